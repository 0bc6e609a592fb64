using System.Text.Json;

namespace StoreLink.Server.Web.Console;

/// <summary>
/// The console's UI text: JSON files per language in <c>assets/i18n</c> — <c>{lang}.json</c> and one per feature
/// (<c>work/{lang}.json</c>), merged — read by the Razor pages through this class and by the ES modules from the same
/// strings (inlined into each page). Simplified Chinese is the default; a key missing in a language falls back to
/// Chinese, then to the key itself.
/// </summary>
public sealed class ConsoleStrings
{
    public const string DefaultLanguage = "zh-CN";
    public const string LanguageCookie = "storelink_lang";
    public static readonly string[] Languages = [DefaultLanguage, "en"];

    /// <summary>The string files of a language: the shell's, then each feature's (a feature keeps its keys in its own file).</summary>
    public static readonly string[] Files = ["i18n/{0}.json", "i18n/work/{0}.json"];

    private readonly Dictionary<string, (string Json, IReadOnlyDictionary<string, string> Map)> _byLanguage = [];

    public ConsoleStrings()
    {
        foreach (var language in Languages)
        {
            var map = new Dictionary<string, string>();
            foreach (var file in Files)
            {
                var json = ConsoleSetup.Assets.Bytes(string.Format(System.Globalization.CultureInfo.InvariantCulture, file, language));
                foreach (var (key, text) in JsonSerializer.Deserialize<Dictionary<string, string>>(json)!)
                    map[key] = text;
            }
            _byLanguage[language] = (JsonSerializer.Serialize(map), map);
        }
    }

    /// <summary>The language of a request: the <c>storelink_lang</c> cookie when it names a known one, else Chinese.</summary>
    public static string LanguageOf(HttpContext http) =>
        http.Request.Cookies.TryGetValue(LanguageCookie, out var lang) && Languages.Contains(lang) ? lang! : DefaultLanguage;

    public string Get(string language, string key) =>
        _byLanguage[language].Map.TryGetValue(key, out var text) || _byLanguage[DefaultLanguage].Map.TryGetValue(key, out text) ? text : key;

    /// <summary>The whole file, for the page's script.</summary>
    public string Json(string language) => _byLanguage[language].Json;
}
