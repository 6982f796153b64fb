from __future__ import annotations

from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from main.utils.decorators.collect_request_data import collect_request_data
from main.utils.decorators.log_errors import log_errors
from main.utils.decorators.require_methods import require_methods


def api_view(*methods: str):
    """What every view of the API needs, said once. Outermost first:

    - CSRF-exempt: callers prove themselves with placement data or a JWT, never with cookies, and a wrong method
      must get the JSON 405 rather than Django's HTML CSRF page;
    - framing allowed: the app runs in Bitrix24's iframe;
    - `require_methods(*methods)`: anything else gets a JSON 405;
    - `log_errors`: every failure becomes a JSON answer;
    - `collect_request_data`: the request's input on `request.data`.

    Add `auth_required` below it for views that need the caller's Bitrix24 account.
    """

    def decorator(view_func):
        view = log_errors(collect_request_data(view_func))
        return csrf_exempt(xframe_options_exempt(require_methods(*methods)(view)))

    return decorator
