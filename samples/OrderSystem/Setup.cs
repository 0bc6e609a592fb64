using System.Text.Json;
using Microsoft.Extensions.Options;
using StoreLink.Client;

namespace OrderSystem;

/// <summary>
/// Connects the order system to StoreLink through StoreLink's public API, as an installer would, with an org admin's
/// sign-in: a connector (its key is the work items' <c>external_ref.system</c>), an API key for reporting command
/// results, and a webhook subscription back to this app. Running it again replaces what an earlier run made.
/// </summary>
public sealed class Setup(Database db, IHttpClientFactory http, IOptions<OrderSystemOptions> options)
{
    public const string ConnectorKey = "order-system";
    private const string Name = "订单系统（示例）";

    /// <summary>Our status → the bag-order template's state (docs/workflows.md, preset 箱包订单).</summary>
    public static readonly IReadOnlyDictionary<string, string> StatusMap = new Dictionary<string, string>
    {
        ["UNPAID"] = "unpaid", ["PAID"] = "paid", ["PICKING"] = "picking", ["SHIPPED"] = "shipped",
        ["SIGNED"] = "received", ["DONE"] = "completed", ["REFUNDING"] = "refunding", ["REFUNDED"] = "refunded",
    };

    /// <summary>Our field → the work item's field.</summary>
    public static readonly IReadOnlyDictionary<string, string> FieldMap = new Dictionary<string, string>
    {
        ["receiver_address"] = "address", ["receiver_phone"] = "phone", ["tracking_no"] = "tracking_no", ["amount"] = "amount",
    };

    public async Task<StoreLinkCredentials> RunAsync(string login, string password, Uri self, bool polling, CancellationToken ct = default)
    {
        using var client = new StoreLinkClient(http.CreateClient("storelink"));
        await client.LoginAsync(login, password, ct);
        var store = (await client.GetAsync<List<JsonElement>>("/v1/stores", ct))
            .FirstOrDefault(s => s.GetProperty("store_key").GetString() == options.Value.StoreKey);
        if (store.ValueKind != JsonValueKind.Object)
            throw new InvalidOperationException($"StoreLink has no store '{options.Value.StoreKey}' that {login} may see.");
        var template = (await client.GetAsync<List<JsonElement>>("/v1/workflow-templates", ct))
            .Where(t => t.GetProperty("kind").GetString() == "order")
            .OrderByDescending(t => t.GetProperty("is_default").GetBoolean())
            .First();

        var body = new
        {
            key = ConnectorKey, name = Name, base_url = new Uri(self, "/storelink/").ToString(), kind = "order",
            template_id = template.GetProperty("id").GetString(), store_id = store.GetProperty("id").GetString(),
            status_map = StatusMap, field_map = FieldMap, mode = polling ? "polling" : "webhook", poll_interval_seconds = polling ? 5 : (int?)null,
            commands = true, profile_lookup = true, active = true,
        };
        var existing = (await client.GetAsync<List<JsonElement>>("/v1/connectors", ct))
            .FirstOrDefault(c => c.GetProperty("key").GetString() == ConnectorKey);
        string connectorId, connectorSecret;
        if (existing.ValueKind == JsonValueKind.Object)
        {
            connectorId = existing.GetProperty("id").GetString()!;
            await client.PatchAsync<JsonElement>($"/v1/connectors/{connectorId}", body, ct);
            connectorSecret = (await client.PostAsync<JsonElement>($"/v1/connectors/{connectorId}/secret/rotate", new { }, ct)).GetProperty("secret").GetString()!;
        }
        else
        {
            var created = await client.PostAsync<JsonElement>("/v1/connectors", body, ct);
            connectorId = created.GetProperty("connector").GetProperty("id").GetString()!;
            connectorSecret = created.GetProperty("secret").GetString()!;
        }

        // A fresh API key and webhook subscription; the ones an earlier run made are removed.
        foreach (var (setting, path) in new[] { ("api_client_id", "/v1/api-clients/"), ("webhook_id", "/v1/webhooks/") })
            if (await db.SettingAsync(setting) is { } old)
                try
                {
                    await client.DeleteAsync(path + old, ct);
                }
                catch (StoreLinkException e) when (e.Status == 404)
                {
                }
        var key = await client.PostAsync<JsonElement>("/v1/api-clients", new
        {
            name = Name, permissions = new[] { "work_items:read", "work_items:write", "customers:read", "customers:write", "messages:write" },
        }, ct);
        var webhook = await client.PostAsync<JsonElement>("/v1/webhooks", new
        {
            url = new Uri(self, "/storelink/webhooks").ToString(), events = new[] { "work_item.state_changed", "customer_action.taken" }, description = Name,
        }, ct);

        var credentials = new StoreLinkCredentials(connectorId, connectorSecret, key.GetProperty("key").GetString(), webhook.GetProperty("secret").GetString());
        await db.SaveSettingsAsync(new Dictionary<string, string>
        {
            [Credentials.ConnectorIdKey] = credentials.ConnectorId!, [Credentials.ConnectorSecretKey] = credentials.ConnectorSecret!,
            [Credentials.ApiKeyKey] = credentials.ApiKey!, [Credentials.WebhookSecretKey] = credentials.WebhookSecret!,
            ["api_client_id"] = key.GetProperty("api_client").GetProperty("id").GetString()!,
            ["webhook_id"] = webhook.GetProperty("subscription").GetProperty("id").GetString()!,
        });
        await client.LogoutAsync(ct);
        return credentials;
    }
}
