"""Loki as production exposes it (python -m sandbox --loki-tenant / --loki-gateway-user).

Multi-tenancy, as Loki 2.6.1 plays it with `auth_enabled: true` (grafana/loki v2.6.1):
- pkg/util/fakeauth/fake_auth.go SetupAuthMiddleware: with auth enabled the HTTP middleware is
  weaveworks/common middleware.AuthenticateUser (vendor/.../middleware/http_auth.go), which takes the
  tenant from the X-Scope-OrgID header (user/http.go ExtractOrgIDFromHTTPRequest) and, when there is
  none (or it is empty), answers `http.Error(w, err.Error(), http.StatusUnauthorized)` with
  user.ErrNoOrgID = "no org id" (user/id.go): 401, text/plain; charset=utf-8, X-Content-Type-Options:
  nosniff, the text and a newline.
- pkg/loki/modules.go wraps with it the distributor's push, the query frontend's query, query_range,
  label(s), label values, series and index/stats, the querier's tail, the ruler's and the compactor's
  APIs; pkg/loki/loki.go registers /ready, /config and /loki/api/v1/status/buildinfo without it.
- Each tenant's streams are its own: its ingester instance and its chunks are keyed by the tenant, so a
  line pushed under one tenant is never returned to a query under another. Each has its own ingestion
  rate limit (limits are per tenant), and the rate-limit error names it.
- The default tenant resolver (dskit tenant.SingleResolver) refuses a tenant ID of "." or ".." or with
  "/" or "\\"; "|" joins several tenants only where multi-tenant queries are on (Loki 2.7+). The sandbox
  refuses those IDs loudly (400, saying so) rather than play what it does not emulate.

A gateway in front of Loki, as nginx with `auth_basic "<realm>"` and `auth_basic_user_file` answers
(ngx_http_auth_basic_module): a request without the user and password gets nginx's 401 page with
WWW-Authenticate: Basic realm="<realm>" (sandbox.httpserver.nginx_basic_auth_refusal); with them it is
passed to Loki unchanged (proxy_pass passes the request's headers, Authorization included, by default).
"""

import base64
import hmac
import re
import threading

from sandbox import loki
from sandbox.httpserver import App, nginx_basic_auth_refusal, text

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")
# The routes pkg/loki/modules.go (2.6.1) puts behind the auth middleware, of those the sandbox knows of.
AUTHENTICATED = re.compile(r"/loki/api/v1/(push|query|query_range|label|labels|label/[^/]+/values|series|index/stats"
                           r"|tail|rules(/.*)?|delete|cache/generation_numbers)|/api/prom/.*"
                           r"|/prometheus/api/v1/(rules|alerts)")
GATEWAY_REALM = "Loki"


class Tenants:
    """The stores of a Loki with auth_enabled: true, one a tenant, each made when its tenant first pushes or
    asks; and the configuration they share (GET /config prints it, with auth_enabled: true)."""

    def __init__(self, config, clock, version="2.6.1"):
        self._config = config if config.auth_enabled else config.with_auth()
        self.clock, self.version = clock, version
        self._stores, self._apps = {}, {}
        self._lock = threading.Lock()
        # /ready, /config and buildinfo name no tenant: answered over a store that no tenant writes to.
        self.untenanted = loki.LokiStore(config=self._config, clock=clock)

    @property
    def config(self):
        return self._config

    @config.setter
    def config(self, config):
        """The configuration every tenant's store enforces from now on (e.g. once the listener is bound)."""
        with self._lock:
            self._config = config
            for store in (self.untenanted, *self._stores.values()):
                store.config = config

    def store(self, tenant):
        """The LokiStore holding `tenant`'s streams."""
        with self._lock:
            if tenant not in self._stores:
                self._stores[tenant] = loki.LokiStore(config=self._config, clock=self.clock, tenant=tenant)
                self._apps[tenant] = loki.make_app(self._stores[tenant], self.version)
            return self._stores[tenant]

    def app(self, tenant):
        self.store(tenant)
        return self._apps[tenant]

    def tenants(self):
        with self._lock:
            return sorted(self._stores)


def make_app(tenants):
    """Loki's HTTP API with auth_enabled: true over `tenants` (see the module's docstring)."""
    base = loki.make_app(tenants.untenanted, tenants.version)
    app = App("loki")
    app.fault_answers.update(base.fault_answers)

    # weaveworks/common middleware.AuthenticateUser in front of the routes pkg/loki/modules.go wraps with it.
    def dispatch(request):
        if not AUTHENTICATED.fullmatch(request.path):
            return base.answer(request)
        tenant = request.headers.get("x-scope-orgid", "")
        if not tenant:
            return text(401, "no org id\n", X_Content_Type_Options="nosniff")
        if tenant in (".", "..") or any(c in tenant for c in "/\\|"):
            return text(400, f"sandbox: the tenant ID {tenant[:200]!r} is not emulated (Loki 2.6.1's tenant resolver "
                             "refuses '.', '..', '/' and '\\'; '|' joins tenants only with multi-tenant queries, "
                             "Loki 2.7+)\n")
        return tenants.app(tenant).answer(request)

    for method in METHODS:
        app.route(method, r"/.*")(dispatch)
    return app


def gateway(inner, user, password, realm=GATEWAY_REALM):
    """`inner` (an App) behind nginx's auth_basic: only requests with `user` and `password` reach it."""
    app = App(inner.name)
    app.fault_answers.update(inner.fault_answers)
    refuse = nginx_basic_auth_refusal(realm)

    # ngx_http_auth_basic_module: "Authorization: Basic <base64 user:password>", checked against the user file.
    def dispatch(request):
        if not _basic_matches(request.headers.get("authorization", ""), user, password):
            return refuse(request)
        return inner.answer(request)

    for method in METHODS:
        app.route(method, r"/.*")(dispatch)
    return app


def _basic_matches(header, user, password):
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given_user, sep, given_password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
    except ValueError:
        return False
    return bool(sep) and hmac.compare_digest(given_user.encode(), user.encode()) \
        and hmac.compare_digest(given_password.encode(), password.encode())
