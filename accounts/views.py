from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import keys
from accounts.forms import ApiKeyCreateForm, CloseAccountForm
from accounts.models import ApiKey
from accounts.services import webhook_secret
from billing.termination import CannotTerminate, terminate


def _keys_page(
    request: HttpRequest,
    *,
    form: ApiKeyCreateForm | None = None,
    new_secret: str = "",
    new_key: ApiKey | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "api_keys": ApiKey.objects.filter(owner=request.user, purpose=ApiKey.Purpose.API),
        "form": form or ApiKeyCreateForm(),
        "new_secret": new_secret,
        "new_key": new_key,
        "now": timezone.now(),
        "webhook_secret": request.user.webhook_secret,
    }
    response = render(request, "accounts/keys.html", context, status=status)
    # The page may carry a secret shown once: never let a cache keep it.
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
def key_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ApiKeyCreateForm(request.POST)
        if not form.is_valid():
            return _keys_page(request, form=form, status=400)
        key, raw = keys.create(request.user, **form.key_options())
        return _keys_page(request, new_secret=raw, new_key=key)
    return _keys_page(request)


@require_POST
@login_required
def key_rotate(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_id, owner=request.user, purpose=ApiKey.Purpose.API)
    if key.is_revoked:
        messages.error(request, "A revoked key cannot be rotated.")
        return redirect("accounts:keys")
    new_key, raw = keys.rotate(key)
    return _keys_page(request, new_secret=raw, new_key=new_key)


@require_POST
@login_required
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_id, owner=request.user, purpose=ApiKey.Purpose.API)
    keys.revoke(key)
    messages.success(request, f"Key “{key.name}” ({key.prefix}…) is revoked.")
    return redirect("accounts:keys")


@require_POST
@login_required
def webhook_secret_rotate(request: HttpRequest) -> HttpResponse:
    had_one = bool(request.user.webhook_secret)
    webhook_secret(request.user, rotate=True)
    messages.success(
        request,
        "A new webhook signing secret is in force; the old one no longer is."
        if had_one
        else "Your webhook signing secret is ready.",
    )
    return redirect("accounts:keys")


@never_cache
@login_required
def profile(request: HttpRequest) -> HttpResponse:
    close_form = CloseAccountForm(user=request.user)
    status = 200
    if request.method == "POST":
        close_form = CloseAccountForm(request.POST, user=request.user)
        if close_form.is_valid():
            try:
                terminate(request.user)
            except CannotTerminate as error:
                messages.error(request, str(error))
                return redirect("accounts:profile")
            logout(request)
            messages.info(request, "Your account is closed and every API key is revoked.")
            return redirect("/")
        status = 400
    return render(request, "accounts/profile.html", {"close_form": close_form}, status=status)
