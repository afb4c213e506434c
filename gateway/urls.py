from django.urls import path

from gateway import views

app_name = "gateway"

urlpatterns = [
    path("v1/models", views.models, name="models"),
    path("v1/chat/completions", views.chat_completions, name="chat-completions"),
    path("v1/credits", views.credits, name="credits"),
]
