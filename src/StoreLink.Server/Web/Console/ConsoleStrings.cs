using System.Text.Json;
using StoreLink.Server.Http;

namespace StoreLink.Server.Web.Console;

/// <summary>
/// The console's UI text: JSON files per language in <c>assets/i18n</c> — <c>{lang}.json</c> and one per feature
/// (<c>work/{lang}.json</c>), merged — read by the Razor pages through this class and by the ES modules from the same
/// strings (inlined into each page). The languages, the default and the cookie that keeps the choice are the
/// server's (<see cref="Texts"/>), so the server's own texts for a staff member follow the same choice; a key missing
/// in a language falls back to Chinese, then to the key itself.
/// </summary>
public sealed class ConsoleStrings
{
    /// <summary>The string files of a language: the shell's, then each feature's (a feature keeps its keys in its own file).</summary>
    public static readonly string[] Files = ["i18n/{0}.json", "i18n/work/{0}.json", "i18n/calls/{0}.json"];

    private readonly Dictionary<string, (string Json, IReadOnlyDictionary<string, string> Map)> _byLanguage = [];

    public ConsoleStrings()
    {
        foreach (var language in Texts.Languages)
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
        http.Request.Cookies.TryGetValue(Texts.LanguageCookie, out var lang) && Texts.Languages.Contains(lang) ? lang! : Texts.DefaultLanguage;

    public string Get(string language, string key) =>
        _byLanguage[language].Map.TryGetValue(key, out var text) || _byLanguage[Texts.DefaultLanguage].Map.TryGetValue(key, out text) ? text : key;

    /// <summary>The whole file, for the page's script.</summary>
    public string Json(string language) => _byLanguage[language].Json;
}
