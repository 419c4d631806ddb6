// The demo shop's own script: lists what the page may do, from the banner's change events.
document.addEventListener("consent:change", function (event) {
  var list = document.getElementById("consent-status");
  var ja = document.documentElement.lang === "ja";
  list.replaceChildren();
  Object.keys(event.detail.purposes).forEach(function (purpose) {
    var item = document.createElement("li");
    var allowed = event.detail.purposes[purpose];
    item.textContent = purpose + ": " + (allowed ? (ja ? "許可" : "allowed") : (ja ? "不許可" : "not allowed"));
    list.appendChild(item);
  });
});
