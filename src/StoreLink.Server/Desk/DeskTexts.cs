using System.Globalization;
using System.Text.Json;

namespace StoreLink.Server.Desk;

/// <summary>
/// What the desk writes into conversations itself (the assignment notice, the out-of-hours reply, the rating card,
/// the transfer note): one JSON file per language in <c>Desk/Strings</c>, embedded in the assembly. Customer-facing
/// texts follow the customer's language (<c>attributes.language</c>, which the widget sets); Simplified Chinese is the
/// default, and a key missing in a language falls back to it. The workflows' cards and answers to a customer (work
/// items, quotes, appointments) take theirs from here too, beside the template's own labels per language. The transfer
/// note is for staff, whose language the server does not know: it is written in the default language.
/// </summary>
public static class DeskTexts
{
    public const string DefaultLanguage = "zh-CN";
    public static readonly string[] Languages = [DefaultLanguage, "en"];

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

    /// <summary>The language an API caller asks for in <c>Accept-Language</c> (best quality first), the default when none of ours.</summary>
    public static string ForRequest(HttpRequest request) =>
        request.GetTypedHeaders().AcceptLanguage.OrderByDescending(l => l.Quality ?? 1)
            .Select(l => Normalize(l.Value.Value)).FirstOrDefault(l => l is not null) ?? DefaultLanguage;

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

    /// <summary>The text of <paramref name="key"/> with its <c>{name}</c> placeholders filled in.</summary>
    public static string Get(string language, string key, params (string Name, string Value)[] values)
    {
        var text = Tables.GetValueOrDefault(language)?.GetValueOrDefault(key) ?? Tables[DefaultLanguage].GetValueOrDefault(key)
            ?? throw new KeyNotFoundException($"No desk text '{key}'.");
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
        using var stream = typeof(DeskTexts).Assembly.GetManifestResourceStream($"desk-strings/{language}.json")
            ?? throw new InvalidOperationException($"The desk texts of {language} are not embedded.");
        return JsonSerializer.Deserialize<Dictionary<string, string>>(stream)!;
    }
}
