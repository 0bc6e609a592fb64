using System.Globalization;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Workflows;

/// <summary><c>POST /v1/stores/{id}/stock-alerts</c>. <c>alert_id</c> (optional) makes a repeated alert post once.</summary>
public sealed record StockAlertRequest(string? Sku, string? Name, int? Quantity, int? Threshold, string? AlertId);

/// <summary>
/// Low-stock alerts from the store's system (or staff) go to an internal staff group of the store (<c>stock_group</c>: 库存预警 · 店名),
/// created with the first alert, with the store's managers and agents as members.
/// </summary>
public sealed class StockAlerts(Db db, Access access, ConversationDirectory directory, SystemPosts posts, IEventBus bus, TimeProvider clock)
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/stores/{id}/stock-alerts", async (string id, StockAlertRequest body, CurrentUser user, StockAlerts alerts, CancellationToken ct) =>
            TypedResults.Ok(await alerts.PostAsync(user, id, body, ct))).RequireAuthorization().WithTags("Workflows");

    public async Task<MessageDto> PostAsync(CurrentUser user, string storeId, StockAlertRequest body, CancellationToken ct)
    {
        var store = await access.StoreAsync(user, storeId, ct);
        if (user.IsCustomer)
            throw ApiException.Forbidden("Stock alerts come from staff or the store's system.");
        user.RequirePermission(Permissions.WorkItemsWrite);
        var v = new Validation();
        var sku = v.Required("sku", body.Sku, 64);
        var name = v.Required("name", body.Name, 100);
        if (body.Quantity is null or < 0)
            v.Add("quantity", "Required: the quantity left, 0 or more.");
        if (body.Threshold is < 0)
            v.Add("threshold", "0 or more.");
        var alertId = v.MaxLength("alert_id", body.AlertId, 64);
        v.ThrowIfAny();

        // For the store's staff, in the language of whoever raised it (a staff member's console, the system's Accept-Language).
        var group = await GroupAsync(store, user.Language, ct);
        var quantity = body.Quantity!.Value.ToString(CultureInfo.InvariantCulture);
        var text = body.Threshold is { } threshold
            ? Texts.Get(user.Language, "stock_alert_threshold", ("name", name), ("sku", sku), ("quantity", quantity), ("threshold", threshold.ToString(CultureInfo.InvariantCulture)))
            : Texts.Get(user.Language, "stock_alert", ("name", name), ("sku", sku), ("quantity", quantity));
        return await posts.PostAsync(group, MessageKinds.System, new { text }, ct, clientMsgId: alertId is null ? null : $"stock:{store.Id}:{alertId}",
            audience: group.Audience(await directory.MembersAsync(group.Id, ct)), language: user.Language);
    }

    private async Task<ConversationFacts> GroupAsync(StoreRow store, string language, CancellationToken ct)
    {
        var existing = await db.QuerySingleOrDefaultAsync<string>("SELECT alert_conversation_id FROM stores WHERE id = @id", new { id = store.Id }, ct);
        if (existing is not null && await directory.FactsAsync(existing, ct) is { } facts)
            return facts;
        var members = (await db.QueryAsync<string>("""
            SELECT DISTINCT r.staff_id FROM staff_roles r JOIN staff s ON s.id = r.staff_id
            WHERE r.store_id = @storeId AND r.role IN ('manager', 'agent') AND s.disabled_at IS NULL
            """, new { storeId = store.Id }, ct)).ToList();
        var id = Ids.New("cnv", clock);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var created = await db.InTransactionAsync(async (c, t) =>
        {
            // The store's row decides which of two first alerts creates the group.
            if (await c.ExecuteAsync("UPDATE stores SET alert_conversation_id = @id WHERE id = @storeId AND alert_conversation_id IS NULL", new { id, storeId = store.Id }, t) == 0)
                return false;
            await ConversationActions.InsertGroupAsync(c, t, id, store.OrgId, Texts.Get(language, "stock_group", ("store", store.Name)), null, members, now);
            return true;
        }, ct);
        if (!created)
            return await GroupAsync(store, language, ct);
        var row = (await db.QuerySingleOrDefaultAsync<ConversationRow>($"SELECT {ConversationRow.Columns} FROM conversations WHERE id = @id", new { id }, ct))!;
        await bus.PublishAsync(Frames.ConversationEvent(row.ToPushDto(members), new Audience(members)), ct);
        return row.Facts;
    }
}
