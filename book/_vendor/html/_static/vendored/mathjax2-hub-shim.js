// The ipywidgets embed script (html-manager 1.x) typesets widget labels with the MathJax 2
// API, `MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])`; the book loads MathJax 3, which
// has no `Hub`. This shim maps that call onto MathJax 3's `typesetPromise`. MathJax 3 replaces
// the global `MathJax` object when it starts, so the shim is re-applied until the page has loaded.
(function () {
  function install() {
    var mj = window.MathJax;
    if (!mj || mj.Hub) return;
    mj.Hub = {
      Queue: function (command) {
        var element = command && command[2];
        var math = window.MathJax;
        if (math && typeof math.typesetPromise === "function") {
          math.typesetPromise(element ? [element] : undefined).catch(function () {});
        }
      },
    };
  }
  install();
  document.addEventListener("DOMContentLoaded", install);
  window.addEventListener("load", install);
  var tries = 0;
  var timer = setInterval(function () {
    install();
    if (++tries >= 200) clearInterval(timer);  // 10 s: MathJax has started by then
  }, 50);
})();
