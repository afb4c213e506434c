from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("settings/keys/", views.key_list, name="keys"),
    path("settings/keys/<int:key_id>/rotate/", views.key_rotate, name="key-rotate"),
    path("settings/keys/<int:key_id>/revoke/", views.key_revoke, name="key-revoke"),
    path("settings/webhook-secret/", views.webhook_secret_rotate, name="webhook-secret"),
    path("settings/profile/", views.profile, name="profile"),
]
