using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace StoreLink.Protocol;

/// <summary>The JSON settings of the wire protocol: snake_case members, RFC 3339 UTC times with milliseconds.</summary>
public static class ProtocolJson
{
    /// <summary>Options shared by the server and the SDK.</summary>
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Applies the protocol's settings to an existing options object (for ASP.NET Core's own).</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.NumberHandling = JsonNumberHandling.Strict;
        // Chinese text stays readable on the wire; the protocol's JSON is never embedded in HTML unescaped.
        options.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        options.Converters.Add(new UtcTimeConverter());
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        return options;
    }

    /// <summary>Writes <see cref="DateTimeOffset"/> as <c>2026-11-22T08:30:00.123Z</c>; reads any RFC 3339 time.</summary>
    public sealed class UtcTimeConverter : JsonConverter<DateTimeOffset>
    {
        /// <inheritdoc />
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var text = reader.GetString();
            if (text is null || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var value))
                throw new JsonException("Expected an RFC 3339 time.");
            return value.ToUniversalTime();
        }

        /// <inheritdoc />
        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
    }
}
