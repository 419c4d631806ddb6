// Stands in for an analytics tag: it sets a first-party cookie that the policy lists under analytics.
window.shopAnalyticsRuns = (window.shopAnalyticsRuns || 0) + 1;
document.cookie = "shop_analytics=" + Date.now() + "; Path=/; Max-Age=31536000; SameSite=Lax";
document.cookie = "_ga_DEMO=GS1.1." + Date.now() + "; Path=/; Max-Age=31536000; SameSite=Lax";
document.getElementById("analytics-output").textContent =
  document.documentElement.lang === "ja" ? "アクセス解析スクリプトが実行されました。" : "The analytics script ran.";
