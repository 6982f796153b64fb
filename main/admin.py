from django.contrib import admin

from main.models import ApplicationInstallation, Bitrix24Account
from main.statuses import set_automatically

# Credentials stay out of the changelists: a page of them on a screen is a leak waiting to happen.
HIDDEN_IN_LISTS = frozenset({"access_token", "refresh_token", "application_token"})


class AllFieldsAdmin(admin.ModelAdmin):
    """Shows every column in the changelist (credentials aside), so the admin follows the model without upkeep."""

    readonly_fields = ("id",)

    def get_list_display(self, request):
        return [field.name for field in self.model._meta.concrete_fields if field.name not in HIDDEN_IN_LISTS]

    def save_model(self, request, obj, form, change) -> None:
        # A status the operator chose is the operator's: the backend's note that it set the old one (and may lift
        # it) goes, unless the operator wrote the comment too.
        if "status" in form.changed_data and "comment" not in form.changed_data and set_automatically(obj.comment):
            obj.comment = None
        super().save_model(request, obj, form, change)


admin.site.register(Bitrix24Account, AllFieldsAdmin)
admin.site.register(ApplicationInstallation, AllFieldsAdmin)
