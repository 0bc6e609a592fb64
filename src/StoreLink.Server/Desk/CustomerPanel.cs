using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Desk;

/// <summary>An earlier (or the current) service conversation of the customer, for the panel.</summary>
public sealed record PanelConversationDto(string Id, string StoreId, string State, string? AssigneeId, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, MessageDto? LastMessage);

/// <summary>What the console shows beside a conversation: who the customer is, what they bought, and how earlier talks went.</summary>
public sealed record CustomerPanelDto(CustomerDto Customer, IReadOnlyList<PurchaseDto> Purchases, IReadOnlyList<PanelConversationDto> Conversations, double? AverageRating)
{
    /// <summary>The customer's profile from the store's own system (a connector with <c>profile_lookup</c>); absent without one.</summary>
    public ExternalProfileDto? External { get; init; }
}

/// <summary>
/// <c>GET /v1/desk/conversations/{id}/customer</c>: the customer panel, from StoreLink's own data and, under
/// <c>external</c>, the store's system (asked while the rest is read, and never waited for long).
/// </summary>
public sealed class CustomerPanel(Db db, Access access, CustomerActions customers, Integrations.ConnectorProfiles profiles)
{
    public const int MaxConversations = 20;

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/desk/conversations/{id}/customer", async (string id, CurrentUser user, CustomerPanel panel, CancellationToken ct) =>
            TypedResults.Ok(await panel.GetAsync(user, id, ct))).RequireAuthorization().WithTags("Desk");

    public async Task<CustomerPanelDto> GetAsync(CurrentUser user, string conversationId, CancellationToken ct)
    {
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        Access.RequireStaff(user);
        if (conversation.Facts.Kind != ConversationKinds.Service)
            throw ApiException.Invalid("The customer panel belongs to service conversations.");
        var customer = await access.CustomerAsync(user, conversation.Facts.CustomerId!, ct);
        var external = profiles.LookupAsync(customer.OrgId, conversation.Facts.StoreId, customer.ExternalId, ct);
        var purchases = await customers.PurchasesAsync(customer.Id, ct);
        // Only conversations with stores the caller works in: another store's talk stays with that store.
        var rows = await db.QueryAsync<PanelRow>("""
            SELECT id, store_id, state, assignee_id, created_at, updated_at FROM conversations
            WHERE customer_id = @customerId AND kind = 'service' ORDER BY updated_at DESC, id LIMIT @take
            """, new { customerId = customer.Id, take = MaxConversations * 5 }, ct);
        var visible = rows.Where(r => Access.SeesStore(user, r.StoreId)).Take(MaxConversations).ToList();
        var ids = visible.Select(r => r.Id).ToList();
        var last = (await db.QueryAsync<MessageRow>($"""
            SELECT {MessageRow.ColumnsOf("m")}
            FROM messages m JOIN conversations c ON c.id = m.conversation_id AND m.seq = c.last_seq
            WHERE {db.Dialect.In("c.id", "@ids")}
            """, new { ids }, ct)).ToDictionary(m => m.ConversationId, m => m.ToDto());
        var average = await db.QuerySingleOrDefaultAsync<double?>("""
            SELECT AVG(CAST(r.rating AS REAL)) FROM csat_ratings r JOIN conversations c ON c.id = r.conversation_id WHERE c.customer_id = @customerId
            """, new { customerId = customer.Id }, ct);
        return new CustomerPanelDto(customer.ToDto(), purchases, visible.Select(r => new PanelConversationDto(
                r.Id, r.StoreId, r.State, r.AssigneeId, DateTimeOffset.FromUnixTimeMilliseconds(r.CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(r.UpdatedAt),
                last.GetValueOrDefault(r.Id))).ToList(),
            average is null ? null : Math.Round(average.Value, 2)) { External = await external };
    }

    private sealed class PanelRow
    {
        public string Id { get; set; } = "";
        public string StoreId { get; set; } = "";
        public string State { get; set; } = "";
        public string? AssigneeId { get; set; }
        public long CreatedAt { get; set; }
        public long UpdatedAt { get; set; }
    }
}
