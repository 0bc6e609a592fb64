using System.Text.Json;
using StoreLink.Protocol;

namespace StoreLink.Server.Http;

/// <summary>
/// Collects field errors under their wire names and throws one <c>invalid_request</c> with all of them.
/// (ASP.NET Core 10's AddValidation reports C# property names, not the snake_case names clients send.)
/// </summary>
public sealed class Validation
{
    private readonly Dictionary<string, List<string>> _errors = [];

    public bool HasErrors => _errors.Count > 0;

    public Validation Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
            _errors[field] = list = [];
        list.Add(message);
        return this;
    }

    /// <summary>A required, non-blank string of at most <paramref name="max"/> characters; returns it trimmed.</summary>
    public string Required(string field, string? value, int max = 200)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            Add(field, "Required.");
            return "";
        }
        return MaxLength(field, value.Trim(), max) ?? "";
    }

    /// <summary>An optional string of at most <paramref name="max"/> characters; blank becomes null.</summary>
    public string? MaxLength(string field, string? value, int max)
    {
        if (string.IsNullOrWhiteSpace(value))
            return null;
        value = value.Trim();
        if (value.Length > max)
            Add(field, $"At most {max} characters.");
        return value;
    }

    /// <summary>Free-form JSON to keep, nested at most <see cref="JsonStrings.MaxKeptDepth"/> levels (see there why).</summary>
    public void Shallow(string field, JsonElement value)
    {
        if (JsonStrings.DepthOf(value) > JsonStrings.MaxKeptDepth)
            Add(field, $"Nested at most {JsonStrings.MaxKeptDepth} levels deep.");
    }

    public void ThrowIfAny()
    {
        if (HasErrors)
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                _errors.ToDictionary(e => e.Key, e => e.Value.ToArray()));
    }
}
