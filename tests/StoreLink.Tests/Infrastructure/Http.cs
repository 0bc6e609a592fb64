using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace StoreLink.Tests.Infrastructure;

/// <summary>An HTTP answer as a client sees it: status, headers and the JSON body (if any).</summary>
public sealed record ApiResponse(int Status, JsonElement Json, HttpResponseHeaders Headers, string? ContentType, string Body)
{
    /// <summary>The stable error code of a problem document.</summary>
    public string? Code => Json.ValueKind == JsonValueKind.Object && Json.TryGetProperty("code", out var code) ? code.GetString() : null;

    public string Str(string name) => Json.GetProperty(name).GetString()!;

    public override string ToString() => $"{Status} {Body}";
}

public static class Http
{
    public static Task<ApiResponse> GetJsonAsync(this HttpClient client, string path) =>
        SendJsonAsync(client, new HttpRequestMessage(HttpMethod.Get, path));

    public static Task<ApiResponse> DeleteJsonAsync(this HttpClient client, string path) =>
        SendJsonAsync(client, new HttpRequestMessage(HttpMethod.Delete, path));

    public static Task<ApiResponse> PostJsonAsync(this HttpClient client, string path, object? body = null) =>
        SendRawAsync(client, HttpMethod.Post, path, body is null ? null : JsonSerializer.Serialize(body));

    public static Task<ApiResponse> PatchJsonAsync(this HttpClient client, string path, object body) =>
        SendRawAsync(client, HttpMethod.Patch, path, JsonSerializer.Serialize(body));

    public static Task<ApiResponse> PutJsonAsync(this HttpClient client, string path, object body) =>
        SendRawAsync(client, HttpMethod.Put, path, JsonSerializer.Serialize(body));

    /// <summary>Sends a body exactly as given (malformed JSON included).</summary>
    public static Task<ApiResponse> SendRawAsync(this HttpClient client, HttpMethod method, string path, string? body, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
            request.Content = new StringContent(body, Encoding.UTF8, contentType);
        return SendJsonAsync(client, request);
    }

    public static async Task<ApiResponse> SendJsonAsync(this HttpClient client, HttpRequestMessage request)
    {
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var json = body.Length > 0 && body.TrimStart().StartsWith('{') || body.TrimStart().StartsWith('[')
            ? JsonDocument.Parse(body).RootElement.Clone()
            : default;
        return new ApiResponse((int)response.StatusCode, json, response.Headers, response.Content.Headers.ContentType?.MediaType, body);
    }
}
