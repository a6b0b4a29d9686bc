#!/usr/bin/env bash
# Refresh the vendored JavaScript that lets the built book render offline.
#
# Why: by default Sphinx loads MathJax, and myst-nb loads require.js and the
# ipywidgets embed manager, from public CDNs. Offline (or behind a firewall)
# equations then show as raw TeX and widgets render blank. We ship local copies
# instead and point the configuration at them (see _config.yml):
#
#   sphinx.config.html_extra_path : [book/_vendor/html]  (html/ is copied as is into _build/html/)
#   sphinx.config.mathjax_path    : vendored/mathjax/tex-chtml-full.js  (Sphinx prefixes _static/)
#   sphinx.config.nb_ipywidgets_js: {vendored/requirejs/require.js: {},
#                                    vendored/html-manager/embed-amd.js: {}}
# so the files are served from _build/html/_static/vendored/ (not _static/vendor/,
# which belongs to the pydata theme's own Font Awesome copy).
#
# Trap: these files must NOT live in a root `_static/` folder. Jupyter Book 1.x
# adds every .js/.css found under `_static/` (and, once that folder exists,
# under every html_static_path entry) to *every* page; html_extra_path is
# never scanned, so the scripts load only where Sphinx/myst-nb ask for them.
#
# Sources (npm registry, fetched with `npm pack`, integrity checked by npm):
#   mathjax@3.2.2                      es5/tex-chtml-full.js (TeX input with every
#                                      extension preloaded, CommonHTML output) and
#                                      the woff-v2 fonts CommonHTML loads; Apache-2.0
#   requirejs@2.3.6                    require.js (AMD loader embed-amd.js needs); MIT
#   @jupyter-widgets/html-manager@1.0.6  dist/embed-amd.js (the version myst-nb 1.x
#                                      points at; bundles the ipywidgets 8 controls)
#                                      plus the Font Awesome fonts its CSS references
#                                      (woff2/woff only: every current browser takes
#                                      one of those); BSD-3-Clause
#
# Usage (from anywhere; needs node/npm and the npm registry):
#   bash book/_vendor/fetch.sh
set -euo pipefail

MATHJAX_VERSION=3.2.2
REQUIREJS_VERSION=2.3.6
HTML_MANAGER_VERSION=1.0.6

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/html/_static/vendored"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "mathjax@${MATHJAX_VERSION}" \
                  "requirejs@${REQUIREJS_VERSION}" \
                  "@jupyter-widgets/html-manager@${HTML_MANAGER_VERSION}" >/dev/null
for tgz in *.tgz; do
    mkdir -p "x/${tgz%.tgz}"
    tar -xzf "$tgz" -C "x/${tgz%.tgz}"
done
mj="x/mathjax-${MATHJAX_VERSION}/package"
rq="x/requirejs-${REQUIREJS_VERSION}/package"
hm="x/jupyter-widgets-html-manager-${HTML_MANAGER_VERSION}/package"

rm -rf "$dest"
mkdir -p "$dest/mathjax/output/chtml/fonts/woff-v2" "$dest/requirejs" "$dest/html-manager"

# MathJax resolves its fonts relative to the script: [mathjax]/output/chtml/fonts/woff-v2
cp "$mj/es5/tex-chtml-full.js" "$dest/mathjax/"
cp "$mj"/es5/output/chtml/fonts/woff-v2/*.woff "$dest/mathjax/output/chtml/fonts/woff-v2/"
cp "$mj/LICENSE" "$dest/mathjax/LICENSE"

cp "$rq/require.js" "$dest/requirejs/"
# require.js carries its licence in its header comment.

# webpack resolves the font URLs relative to embed-amd.js itself.
cp "$hm/dist/embed-amd.js" "$dest/html-manager/"
cp "$hm"/dist/*.woff2 "$hm"/dist/*.woff "$dest/html-manager/"
# At run time the embed script asks for its icon fonts relative to the *page*
# (require.js module path @jupyter-widgets/html-manager/dist/); every page lives in book/.
fonts="$(dirname "$dest")/../book/@jupyter-widgets/html-manager/dist"
mkdir -p "$fonts"
cp "$hm"/dist/*.woff2 "$hm"/dist/*.woff "$fonts/"
cp "$hm/LICENSE" "$dest/html-manager/LICENSE"
cp "$hm/dist/embed.js.LICENSE.txt" "$dest/html-manager/THIRD_PARTY_LICENSES.txt"

cat > "$dest/VERSIONS.txt" <<VERSIONS
mathjax ${MATHJAX_VERSION}
requirejs ${REQUIREJS_VERSION}
@jupyter-widgets/html-manager ${HTML_MANAGER_VERSION}
VERSIONS

echo "vendored into $dest:"
(cd "$dest" && find . -type f | sort | xargs sha256sum)
du -sh "$dest"
