// The flame-graph page that `ppagent flame` writes, compiled in from
// launcher/flame/page.{html,css,js} (flame_page.cc is generated at build time by
// launcher/flame/embed_page.py). The profile's data goes between the two parts:
// base64 text, which needs no escaping inside the page's <script> element.
#pragma once

namespace ppagent {

extern const char kFlamePageBeforeData[];
extern const char kFlamePageAfterData[];

}  // namespace ppagent
