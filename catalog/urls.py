from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("models/", views.model_list, name="models"),
    path("models/<str:slug>/", views.model_detail, name="model"),
]
