from django import forms
from django.utils.translation import gettext_lazy as _


class ContactForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))
    email = forms.EmailField(label=_("Email"))
    subject = forms.CharField(max_length=150, label=_("Subject"))
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), max_length=5000, label=_("Message")
    )
    # Left empty by people; bots fill every field.
    website = forms.CharField(
        required=False,
        label=_("Leave this empty"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def clean_subject(self) -> str:
        subject = self.cleaned_data["subject"]
        if "\n" in subject or "\r" in subject:
            raise forms.ValidationError(_("One line, please."))
        return subject
