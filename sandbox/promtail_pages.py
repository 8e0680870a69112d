"""Promtail 2.6.1's /targets and /service-discovery HTML pages, byte for byte.

Promtail renders them with Go's html/template from clients/pkg/promtail/server/ui/templates:
_base.html followed by targets.html or service-discovery.html (server/template.go getTemplate),
with pathPrefix "" and the build version of the 2.6.1 binary. The functions below write the
text those templates produce, literal for literal, and escape values as html/template does in
each context (text and quoted attributes: htmlEscaper; the fragment of an href: urlEscaper;
the tooltip's values also go through text/template's `html` first, because the template assigns
`$ev := $v | html` and then prints $ev in an attribute). Go ranges over maps in key order, so
jobs, labels and files are sorted. tests/sandbox/test_promtail.py compares the output with
captures 26 and 27.

A page is built from `pools`: {job: [Target]}, Target as sandbox.promtail defines it.
"""

BUILD_VERSION = "(version=2.6.1, branch=HEAD, revision=6bd05c9a4)"

# html/template's htmlReplacementTable (escape/html.go), used in text and quoted attribute values.
_HTML_TEMPLATE = {"\0": "\ufffd", '"': "&#34;", "&": "&amp;", "'": "&#39;", "+": "&#43;", "<": "&lt;", ">": "&gt;"}
# text/template's HTMLEscapeString, the `html` builtin.
_TEXT_HTML = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_URL_KEEP = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")


def _h(value):
    """html/template's htmlEscaper / attrEscaper."""
    return "".join(_HTML_TEMPLATE.get(c, c) for c in str(value))


def _text_html(value):
    return "".join(_TEXT_HTML.get(c, c) for c in str(value))


def _u(value):
    """html/template's urlEscaper (processURLOnto with norm=false): every byte but the unreserved, as %xx."""
    return "".join(chr(b) if b in _URL_KEEP else f"%{b:02x}" for b in str(value).encode("utf-8"))


def _bool(value):
    return "true" if value else "false"


def _page(title, content, trailer):
    """_base.html with the page's "head" (both pages define the same) and "content", then the page
    template's own top-level text (`trailer`), as the concatenated template executes."""
    v = _u(BUILD_VERSION)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n    <head>\n'
        '        <meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
        '        <meta name="robots" content="noindex,nofollow">\n'
        f"        <title>{_h(title)}</title>\n"
        f'        <link rel="shortcut icon" href="/static/img/favicon.ico?v={v}">\n'
        f'        <script src="/static/vendor/js/jquery-3.5.1.min.js?v={v}"></script>\n'
        f'        <script src="/static/vendor/js/popper.min.js?v={v}"></script>\n'
        f'        <script src="/static/vendor/bootstrap-4.1.3/js/bootstrap.min.js?v={v}"></script>\n\n'
        '        <link type="text/css" rel="stylesheet" '
        f'href="/static/vendor/bootstrap-4.1.3/css/bootstrap.min.css?v={v}">\n'
        f'        <link type="text/css" rel="stylesheet" href="/static/css/promtail.css?v={v}">\n'
        '        <link type="text/css" rel="stylesheet" '
        f'href="/static/vendor/bootstrap4-glyphicons/css/bootstrap-glyphicons.min.css?v={v}">\n\n'
        "        <script>\n"
        '            var PATH_PREFIX = "";\n'
        f'            var BUILD_VERSION = "{BUILD_VERSION}";\n'
        "            $(function () {\n"
        "                $('[data-toggle=\"tooltip\"]').tooltip()\n"
        "            })\n"
        "        </script>\n\n"
        "        \n"  # {{template "head" .}}
        f'<link type="text/css" rel="stylesheet" href="/static/css/targets.css?v={v}">\n'
        f'<script src="/static/js/targets.js?v={v}"></script>\n'
        "\n    </head>\n\n    <body>\n"
        '        <nav class="navbar fixed-top navbar-expand-sm navbar-dark bg-dark">\n'
        '            <div class="container-fluid">\n\n'
        '                <button type="button" class="navbar-toggler" data-toggle="collapse" data-target="#nav-content"'
        ' aria-expanded="false" aria-controls="nav-content" aria-label="Toggle navigation">\n'
        '                    <span class="navbar-toggler-icon"></span>\n'
        "                    \n"  # html/template drops the template's HTML comment
        "                </button>\n\n"
        '                <a class="navbar-brand" href="#">Promtail</a>\n\n\n'
        '                <div id="nav-content" class="navbar-collapse collapse">\n'
        '                    <ul class="navbar-nav">\n'
        '                        <li class="nav-item"><a class="nav-link" href="/service-discovery">Service Discovery'
        "</a></li>\n"
        '                        <li class="nav-item"><a class="nav-link" href="/targets">Targets</a></li>\n'
        '                        <li class="nav-item"><a class="nav-link" href="/config">Config</a></li>\n'
        '                        <li class= "nav-item" >\n'
        '                            <a class ="nav-link" href="https://github.com/grafana/loki" target="_blank">Help'
        "</a>\n"
        "                        </li>\n"
        "                    </ul>\n"
        "                </div>\n"
        "            </div>\n"
        "        </nav>\n\n"
        f"        {content}\n"
        "    </body>\n</html>\n"
        f"{trailer}"
    )


def _sorted_pools(pools):
    return sorted(pools.items())


# --- targets.html ---

def _target_row(t):
    tooltip = "".join(f"<br>{_h(k)}=&quot;{_h(_text_html(v))}&quot;" for k, v in sorted(t.discovered_labels.items()))
    if t.labels:
        labels = "".join(f'\n                  <span class="badge badge-primary">{_h(k)}="{_h(v)}"</span>'
                         "\n                "
                         for k, v in sorted(t.labels.items()))
    else:
        labels = '\n                  <span class="badge badge-default">none</span>\n                '
    details = ""
    if t.type == "File":
        rows = "".join(f"\n                  <tr>\n                    <td>{_h(path)}</td>\n"
                       f"                    <td>{_h(position)}</td>\n                  </tr>\n                "
                       for path, position in sorted(t.details.items()))
        details = ("\n                \n"
                   '                <table class="table">\n'
                   "                    <thead>\n"
                   "                      <tr>\n"
                   '                        <th scope="col">Path</th>\n'
                   '                        <th scope="col">Position</th>\n'
                   "                      </tr>\n"
                   "                    </thead>\n"
                   "                  <tbody>\n"
                   f"                {rows}\n"
                   "                </tbody>\n"
                   "              </table>\n"
                   "              ")
    elif t.type != "Docker":
        raise ValueError(f"sandbox promtail renders File and Docker targets, not {t.type!r}")
    return ("\n          <tr>\n"
            '            <td class="type">\n'
            f"              <span >{_h(t.type)}</a><br>\n"
            "            </td>\n"
            '            <td class="state">\n'
            f'              <span class="alert alert-{"success" if t.ready else "danger"} state_indicator '
            'text-uppercase">\n'
            f"                {_bool(t.ready)}\n"
            "              </span>\n"
            "            </td>\n"
            '            <td class="labels">\n'
            '              <span class="cursor-pointer" data-toggle="tooltip" title="" data-html=true '
            f'data-original-title="<b>Before relabeling:</b>{tooltip}">\n'
            f"                {labels}\n"
            "              </span>\n"
            "            </td>\n"
            '            <td class="details">\n'
            f"              {details}\n"
            "            </td>\n"
            "          </tr>\n        ")


def targets_page(pools):
    """GET /targets: one table per job, its header "JOB (READY/TOTAL ready)", class "job_header danger"
    when some target is not ready (targets.html)."""
    jobs = []
    for job, pool in _sorted_pools(pools):
        ready, total = sum(1 for t in pool if t.ready), len(pool)
        rows = "".join(_target_row(t) for t in pool)
        jobs.append("\n    \n    \n\n"
                    '    <div class="table-container">\n'
                    f'      <h2 class="job_header{" danger" if ready < total else ""}">\n'
                    f'        <a id="job-{_h(job)}" href="#job-{_u(job)}">{_h(job)} ({ready}/{total} ready)</a>\n'
                    '        <button type="button" class="targets expanded-table btn btn-primary">show less</button>\n'
                    "      </h2>\n"
                    '      <table class="table table-sm table-bordered table-striped table-hover">\n'
                    '        <thead class="job_details">\n'
                    "          <tr>\n"
                    "            <th>Type</th>\n"
                    "            <th>Ready</th>\n"
                    "            <th>Labels</th>\n"
                    "            <th>Details</th>\n"
                    "          </tr>\n"
                    "        </thead>\n"
                    "        <tbody>\n"
                    f"        {rows}\n"
                    "        </tbody>\n"
                    "      </table>\n"
                    "    </div>\n    ")
    content = ("\n"
               '  <div class="container-fluid">\n'
               "    <h1>Targets</h1>\n"
               '    <div id="showTargets" class="btn-group btn-group-toggle" data-toggle="buttons">\n'
               '      <label class="btn btn-primary">\n'
               '        <input type="radio" name="targets" id="all-targets" autocomplete="off" checked> All\n'
               "      </label>\n"
               '      <label class="btn btn-primary">\n'
               '        <input type="radio" name="targets" id="unready-targets" autocomplete="off"> Unready\n'
               "      </label>\n"
               "      </br>\n"
               "  </div>\n\n"
               f"    {''.join(jobs)}\n"
               "  </div>\n")
    return _page("Targets", content, "\n\n\n\n")


# --- service-discovery.html ---

def _label_list(labels, empty, indent):
    if not labels:
        return (f"\n{indent}<li>\n{indent}  <span class=\"badge badge-default\">{empty}</span>\n{indent}</li>\n"
                "                  ")
    return "".join("\n                    <li>\n"
                   f'                      <span class="badge badge-primary">{_h(k)}="{_h(v)}"</span>\n'
                   "                    </li>\n                  " for k, v in sorted(labels.items()))


def _sd_row(t):
    # A target without labels is one relabeling dropped; the sandbox has none (no relabel_configs).
    return ("\n          <tr>\n"
            '            <td class="labels">\n'
            "                \n"
            '                <ul class="list-inline" style="list-style-type:none">\n'
            f"                  {_label_list(t.discovered_labels, 'none', '                  ')}\n"
            "                </ul>\n"
            "            </td>\n"
            '            <td class="labels">\n'
            "                \n"
            '                <ul class="list-inline" style="list-style-type:none">\n'
            f"                  {_label_list(t.labels, 'Dropped: ', '                    ')}\n"
            "                </ul>\n"
            "            </td>\n"
            "          </tr>\n        ")


def service_discovery_page(pools):
    """GET /service-discovery: the index "JOB (ACTIVE/TOTAL active targets)" (active: not dropped by
    relabeling, ready or not), then per job a collapsed table of discovered and target labels."""
    jobs = _sorted_pools(pools)
    index = "".join(f'\n          <li>\n            <a href="#job-{_u(job)}">{_h(job)}</a> ({len(pool)}/{len(pool)} '
                    "active targets)\n          </li>\n        " for job, pool in jobs)
    tables = "".join("\n\n"
                     '    <div class="table-container">\n'
                     f'      <h2 class="job_header" id="job-{_h(job)}">\n'
                     f"        {_h(job)}\n"
                     '        <button type="button" class="targets collapsed-table btn btn-primary">'
                     "show more</button>\n"
                     "      </h2>\n"
                     "      \n"
                     '      <table class="table table-sm table-bordered table-striped table-hover" '
                     'style="display:none">\n'
                     '        <thead class="job_details">\n'
                     "          <tr>\n"
                     "            <th>Discovered Labels</th>\n"
                     "            <th>Target Labels</th>\n"
                     "          </tr>\n"
                     "        </thead>\n"
                     "        <tbody>\n\n"
                     f"        {''.join(_sd_row(t) for t in pool)}\n"
                     "        </tbody>\n"
                     "      </table>\n"
                     "    </div>\n    " for job, pool in jobs)
    content = ("\n"
               '  <div class="container-fluid">\n\n'
               "    <h1>Service Discovery</h1>\n"
               "    <div>\n"
               "      <ul>\n"
               f"        {index}\n"
               "      </ul>\n"
               "    </div>\n\n"
               "    \n"
               f"    {tables}\n"
               "  </div>\n\n")
    style = ("<style>\n  *[id]:before {\n    display: block;\n    content: \" \";\n    margin-top: -65px;\n"
             "    height: 65px;\n    visibility: hidden;\n  }\n</style>\n")
    return _page("Service Discovery", content, f"\n\n{style}\n\n")
