using System.Text.Json;

namespace StoreLink.Server.Web.Console;

/// <summary>
/// The console's UI text: one JSON file per language in <c>assets/i18n</c>, read by the Razor pages through this class
/// and by the ES modules from the same file (inlined into each page). Simplified Chinese is the default; a key missing in
/// a language falls back to Chinese, then to the key itself.
/// </summary>
public sealed class ConsoleStrings
{
    public const string DefaultLanguage = "zh-CN";
    public const string LanguageCookie = "storelink_lang";
    public static readonly string[] Languages = [DefaultLanguage, "en"];

    private readonly Dictionary<string, (string Json, IReadOnlyDictionary<string, string> Map)> _byLanguage = [];

    public ConsoleStrings()
    {
        foreach (var language in Languages)
        {
            using var stream = ConsoleSetup.Assets.GetFileInfo($"i18n/{language}.json").CreateReadStream();
            using var reader = new StreamReader(stream);
            var json = reader.ReadToEnd();
            _byLanguage[language] = (json, JsonSerializer.Deserialize<Dictionary<string, string>>(json)!);
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
