using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary>
/// What a store's system does to send StoreLink an event: a POST to the connector's hook, signed as Standard Webhooks
/// say (written here without the server's code), with the time of the server under test.
/// </summary>
public static class Hooks
{
    public static string Sign(string secret, string id, long timestamp, string body)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));
    }

    /// <summary>An event as the contract shows it; <c>id</c> is also the webhook-id.</summary>
    public static object Event(string id, string type, object data, long? version = null, DateTimeOffset? occurredAt = null) =>
        new Dictionary<string, object?>
        {
            ["id"] = id, ["type"] = type, ["occurred_at"] = occurredAt?.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"), ["version"] = version, ["data"] = data,
        }.Where(p => p.Value is not null).ToDictionary();

    public static object Order(string externalId, string? status, string? customer = "C-88", string? title = "托特包 ×1", object? fields = null) =>
        new Dictionary<string, object?>
        {
            ["external_id"] = externalId, ["status"] = status, ["title"] = title,
            ["customer"] = customer is null ? null : new { external_id = customer, name = "陈女士", phone = "13800138000" },
            ["fields"] = fields,
        }.Where(p => p.Value is not null).ToDictionary();

    /// <summary>Posts <paramref name="body"/> (an object, serialized, or a raw string) to the hook, signed unless told otherwise.</summary>
    public static async Task<ApiResponse> SendAsync(StoreLinkApp app, string connectorId, string secret, object body, string? id = null,
        TimeSpan? skew = null, string? signature = null, bool sign = true)
    {
        var text = body as string ?? JsonSerializer.Serialize(body);
        id ??= body is string ? Guid.NewGuid().ToString("N") : JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
        var timestamp = (app.Clock.GetUtcNow() + (skew ?? TimeSpan.Zero)).ToUnixTimeSeconds();
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/hooks/{connectorId}") { Content = new StringContent(text, Encoding.UTF8, "application/json") };
        request.Headers.Add("webhook-id", id);
        request.Headers.Add("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (sign)
            request.Headers.Add("webhook-signature", signature ?? Sign(secret, id, timestamp, text));
        return await app.Anonymous().SendJsonAsync(request);
    }

    /// <summary>A webhook connector of Demo Retail's bag store for the order template; answers its id and secret.</summary>
    public static async Task<(string Id, string Secret)> ConnectorAsync(HttpClient admin, object? more = null, string key = "erp")
    {
        var store = await ConnectorTests.StoreIdAsync(admin, "demo-bags");
        var body = new Dictionary<string, object?>
        {
            ["key"] = key, ["name"] = "订单系统", ["base_url"] = "https://8.8.8.8/storelink/", ["kind"] = "order", ["store_id"] = store,
            ["status_map"] = ConnectorTests.BagStatuses, ["field_map"] = new { receiver_address = "address", tracking_no = "tracking_no" },
        };
        foreach (var p in JsonSerializer.SerializeToElement(more ?? new { }).EnumerateObject())
            body[p.Name] = p.Value;
        var created = await admin.PostJsonAsync("/v1/connectors", body);
        Assert.True(created.Status == 201, created.ToString());
        return (created.Json.GetProperty("connector").GetProperty("id").GetString()!, created.Str("secret"));
    }
}
