using Microsoft.Extensions.Options;

namespace OrderSystem;

/// <summary>What the order system knows of its StoreLink connector: configuration first, else what setup stored.</summary>
public sealed record StoreLinkCredentials(string? ConnectorId, string? ConnectorSecret, string? ApiKey, string? WebhookSecret)
{
    public bool Connected => ConnectorId is not null && ConnectorSecret is not null;
}

public sealed class Credentials(Database db, IOptions<OrderSystemOptions> options)
{
    public const string ConnectorIdKey = "connector_id", ConnectorSecretKey = "connector_secret", ApiKeyKey = "api_key", WebhookSecretKey = "webhook_secret";

    public async Task<StoreLinkCredentials> CurrentAsync()
    {
        var o = options.Value;
        return new StoreLinkCredentials(
            o.ConnectorId ?? await db.SettingAsync(ConnectorIdKey),
            o.ConnectorSecret ?? await db.SettingAsync(ConnectorSecretKey),
            o.ApiKey ?? await db.SettingAsync(ApiKeyKey),
            o.WebhookSecret ?? await db.SettingAsync(WebhookSecretKey));
    }
}
