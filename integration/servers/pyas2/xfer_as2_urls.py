"""URLs of the test bed's AS2 server: only the pyas2 receiver (POST /pyas2/as2receive)."""

from django.urls import include, path

urlpatterns = [path("pyas2/", include("pyas2.urls"))]
