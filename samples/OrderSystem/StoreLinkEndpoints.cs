using System.Text;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;

namespace OrderSystem;

/// <summary>
/// What StoreLink calls here (the connector's <c>base_url</c> is <c>{this app}/storelink/</c>): commands, the changes
/// feed, the customer profile, and StoreLink's own webhooks. Every request must carry a valid signature.
/// </summary>
public static class StoreLinkEndpoints
{
    private const int MaxBody = 64 * 1024;

    public static void MapStoreLink(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/storelink");

        group.MapPost("/commands", async (HttpRequest request, Credentials credentials, Commands commands, TimeProvider clock) =>
        {
            var (body, refused) = await VerifiedBodyAsync(request, (await credentials.CurrentAsync()).ConnectorSecret, clock);
            if (refused is not null)
                return refused;
            JsonElement command;
            try
            {
                command = JsonDocument.Parse(body).RootElement;
            }
            catch (JsonException)
            {
                return Results.BadRequest(new { status = "refused", message = "The body is not JSON." });
            }
            return await commands.ReceiveAsync(command);
        });

        group.MapGet("/changes", async (HttpRequest request, string? cursor, int? limit, Credentials credentials, EventPusher events, TimeProvider clock) =>
        {
            var (_, refused) = await VerifiedBodyAsync(request, (await credentials.CurrentAsync()).ConnectorSecret, clock);
            return refused ?? Results.Ok(await events.ChangesAsync(cursor, limit ?? 100));
        });

        group.MapGet("/customers/{externalId}", async (string externalId, HttpRequest request, Credentials credentials, OrderBook orders, TimeProvider clock) =>
        {
            var (_, refused) = await VerifiedBodyAsync(request, (await credentials.CurrentAsync()).ConnectorSecret, clock);
            if (refused is not null)
                return refused;
            return await orders.ProfileAsync(externalId) is { } profile ? Results.Ok(profile) : Results.NotFound(new { error = "unknown customer" });
        });

        // StoreLink's outbound webhooks (the subscription setup made): kept once per webhook-id, shown on the page.
        group.MapPost("/webhooks", async (HttpRequest request, Credentials credentials, Database db, TimeProvider clock) =>
        {
            var (body, refused) = await VerifiedBodyAsync(request, (await credentials.CurrentAsync()).WebhookSecret, clock);
            if (refused is not null)
                return refused;
            string type;
            try
            {
                type = JsonDocument.Parse(body).RootElement.GetProperty("type").GetString() ?? "?";
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                return Results.BadRequest();
            }
            await using var c = await db.OpenAsync();
            await c.ExecuteAsync("INSERT INTO storelink_events (id, type, body, received_at) VALUES (@id, @type, @body, @now) ON CONFLICT (id) DO NOTHING",
                new { id = request.Headers["webhook-id"].ToString(), type, body, now = clock.GetUtcNow().ToUnixTimeMilliseconds() });
            return Results.NoContent();
        });
    }

    /// <summary>The raw body, if the request is signed with <paramref name="secret"/> within the time window; else the refusal.</summary>
    private static async Task<(string Body, IResult? Refused)> VerifiedBodyAsync(HttpRequest request, string? secret, TimeProvider clock)
    {
        if (secret is null)
            return ("", Results.Json(new { error = "not connected to StoreLink" }, statusCode: 503));
        if (request.ContentLength > MaxBody)
            return ("", Results.StatusCode(413));
        var buffer = new byte[MaxBody + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await request.Body.ReadAsync(buffer.AsMemory(length))) > 0)
            length += read;
        if (length > MaxBody)
            return ("", Results.StatusCode(413));
        var body = Encoding.UTF8.GetString(buffer, 0, length);
        var verdict = WebhookSignature.Verify(secret, request.Headers["webhook-id"], request.Headers["webhook-timestamp"], request.Headers["webhook-signature"], body, clock.GetUtcNow());
        return verdict switch
        {
            WebhookVerification.Valid => (body, null),
            WebhookVerification.StaleTimestamp => (body, Results.Json(new { error = "stale_timestamp" }, statusCode: 401)),
            _ => (body, Results.Json(new { error = "invalid_signature" }, statusCode: 401)),
        };
    }
}
