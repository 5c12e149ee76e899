/* The embedded web UI of `mortar serve` (docs/ui.md, docs/adr/0014-web-ui.md): generated at
 * build time by cmake/web.cmake from web/serve/ (index.html, app.js, app.css) and uPlot's dist
 * files (uPlot.iife.min.js, uPlot.min.css), compiled into mortar_server. Served as
 * GET / -> "index.html" and GET /ui/NAME -> NAME. Each data[] is followed by a NUL byte that
 * len does not count. */
#ifndef MT_SERVER_UI_ASSETS_H
#define MT_SERVER_UI_ASSETS_H

#include <stddef.h>

#include "report/report.h" /* mt__asset_t */

extern const mt__asset_t mt__serve_assets[];
extern const size_t mt__serve_nassets;

#endif
