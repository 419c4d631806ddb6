// Stands in for an advertising tag: it sets a first-party cookie that the policy lists under advertising.
window.shopAdsRuns = (window.shopAdsRuns || 0) + 1;
document.cookie = "shop_ads=" + Date.now() + "; Path=/; Max-Age=31536000; SameSite=Lax";
document.getElementById("ads-output").textContent =
  document.documentElement.lang === "ja" ? "広告スクリプトが実行されました。" : "The advertising script ran.";
