using System.Text.Json;
using System.Text.Json.Serialization;

namespace StoreLink.Server.Http;

/// <summary>
/// JSON can escape what is not text: <c>"\ud800"</c> (a lone surrogate) parses, but reading it as a string throws
/// <see cref="InvalidOperationException"/> wherever that happens to be, far from the parser. Client JSON that is kept
/// as a <see cref="JsonElement"/> (WebSocket frames, message bodies, customer attributes) is checked once where it
/// comes in, so that such a string is an invalid request rather than a fault of the server.
/// </summary>
public static class JsonStrings
{
    /// <summary>Whether every string and member name in the element reads as text.</summary>
    public static bool AreValid(JsonElement element)
    {
        try
        {
            Read(element);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// How deep free-form JSON that is kept (work item fields, customer attributes, command results, profiles of the
    /// store's system) may nest. It is read back inside wrappers — the item, its timeline event, a webhook payload —
    /// and System.Text.Json reads at most 64 levels, so a kept value stays well under that.
    /// </summary>
    public const int MaxKeptDepth = 32;

    /// <summary>Levels of nesting: 0 for a scalar, 1 for <c>[]</c> or <c>{"a":1}</c>.</summary>
    public static int DepthOf(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => 1 + element.EnumerateObject().Select(p => DepthOf(p.Value)).DefaultIfEmpty(0).Max(),
        JsonValueKind.Array => 1 + element.EnumerateArray().Select(DepthOf).DefaultIfEmpty(0).Max(),
        _ => 0,
    };

    private static void Read(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                _ = element.GetString();
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    _ = property.Name;
                    Read(property.Value);
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                    Read(item);
                break;
        }
    }
}

/// <summary>
/// Reads the <see cref="JsonElement"/> members of request bodies as the default converter does, and refuses one with
/// a string that is not text as invalid JSON (400 <c>invalid_request</c>), as the serializer already does for string members.
/// </summary>
public sealed class CheckedJsonElementConverter : JsonConverter<JsonElement>
{
    public override JsonElement Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var element = JsonElement.ParseValue(ref reader);
        return JsonStrings.AreValid(element) ? element : throw new JsonException("A string is not valid Unicode text (a lone surrogate escape).");
    }

    public override void Write(Utf8JsonWriter writer, JsonElement value, JsonSerializerOptions options) => value.WriteTo(writer);
}
