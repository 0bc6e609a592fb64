using System.Globalization;
using System.Text.Json;
using Microsoft.Net.Http.Headers;

namespace StoreLink.Server.Http;

/// <summary>
/// Every text the server writes for a person to read — what the desk and the workflows post into conversations
/// (assignment notices, the out-of-hours reply, cards, answers to a tap), the system sender's name, refusals in
/// problem documents — comes from one string table per language: <c>Http/Strings/{language}.json</c>, embedded in the
/// assembly. The language is the reader's: a customer's stored one (<c>attributes.language</c>, which the widget sets),
/// a staff member's console language (the <c>storelink_lang</c> cookie), an API caller's <c>Accept-Language</c>
/// (<see cref="Accounts.CurrentUser.Language"/>). Simplified Chinese is the default, and a key missing in a language
/// falls back to it. Texts a store wrote itself (a template's labels per language) are picked with <see cref="Pick"/>.
/// </summary>
public static class Texts
{
    public const string DefaultLanguage = "zh-CN";
    public static readonly string[] Languages = [DefaultLanguage, "en"];

    /// <summary>The cookie the console keeps its language in; the console's calls to the API carry it too.</summary>
    public const string LanguageCookie = "storelink_lang";

    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> Tables = Languages.ToDictionary(l => l, Load);

    private static readonly Dictionary<string, CultureInfo> Cultures = new()
    {
        [DefaultLanguage] = CultureInfo.GetCultureInfo("zh-CN"), ["en"] = CultureInfo.GetCultureInfo("en-US"),
    };

    /// <summary>One of <see cref="Languages"/> for a language tag (<c>en-GB</c> → <c>en</c>); null when it is none of them.</summary>
    public static string? Normalize(string? tag) =>
        tag is null ? null
        : tag.StartsWith("zh", StringComparison.OrdinalIgnoreCase) ? DefaultLanguage
        : tag.StartsWith("en", StringComparison.OrdinalIgnoreCase) ? "en"
        : null;

    /// <summary>The language of a customer from their attributes (JSON), the default when they name none.</summary>
    public static string LanguageOf(string? attributes)
    {
        if (string.IsNullOrEmpty(attributes))
            return DefaultLanguage;
        using var doc = JsonDocument.Parse(attributes);
        return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("language", out var tag) && tag.ValueKind == JsonValueKind.String
            ? Normalize(tag.GetString()) ?? DefaultLanguage
            : DefaultLanguage;
    }

    /// <summary>
    /// The language of a request by staff or an API caller: the console's cookie when it names a known language, else
    /// the first language of <c>Accept-Language</c> (by quality) that the server has, else the default.
    /// </summary>
    public static string LanguageOf(HttpRequest request)
    {
        if (request.Cookies.TryGetValue(LanguageCookie, out var cookie) && Languages.Contains(cookie))
            return cookie!;
        if (StringWithQualityHeaderValue.TryParseList(request.Headers.AcceptLanguage, out var accepted))
            foreach (var tag in accepted.Where(a => a.Quality is not 0).OrderByDescending(a => a.Quality ?? 1))
                if (Normalize(tag.Value.Value) is { } language)
                    return language;
        return DefaultLanguage;
    }

    /// <summary>The text of <paramref name="key"/> with its <c>{name}</c> placeholders filled in.</summary>
    public static string Get(string language, string key, params (string Name, string Value)[] values)
    {
        var text = Tables.GetValueOrDefault(language)?.GetValueOrDefault(key) ?? Tables[DefaultLanguage].GetValueOrDefault(key)
            ?? throw new KeyNotFoundException($"No text '{key}'.");
        foreach (var (name, value) in values)
            text = text.Replace("{" + name + "}", value, StringComparison.Ordinal);
        return text;
    }

    /// <summary>A text a template or schedule keeps per language (a state's label, an action's): the language's, else the default's.</summary>
    public static string? Pick(IReadOnlyDictionary<string, string>? texts, string language) =>
        texts?.GetValueOrDefault(language) ?? texts?.GetValueOrDefault(DefaultLanguage);

    /// <summary>
    /// A local time of the store as the language writes it, in the format kept under <paramref name="formatKey"/>
    /// (the opening time: 12月3日 09:00, 09:00 on Thu 3 Dec).
    /// </summary>
    public static string Time(string language, DateTimeOffset local, string formatKey = "opening_format") =>
        local.ToString(Get(language, formatKey), Cultures.GetValueOrDefault(language) ?? Cultures[DefaultLanguage]);

    private static IReadOnlyDictionary<string, string> Load(string language)
    {
        using var stream = typeof(Texts).Assembly.GetManifestResourceStream($"strings/{language}.json")
            ?? throw new InvalidOperationException($"The texts of {language} are not embedded.");
        return JsonSerializer.Deserialize<Dictionary<string, string>>(stream)!;
    }
}
