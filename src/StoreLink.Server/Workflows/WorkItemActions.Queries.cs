using System.Data.Common;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Desk;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

// Reads: one item, lists, the timeline, and the DTO view shared with the pushes.
public sealed partial class WorkItemActions
{
    public async Task<WorkItemDto> GetAsync(CurrentUser user, string workItemId, CancellationToken ct) =>
        (await ViewAsync(user, [await access.WorkItemAsync(user, workItemId, ct)], ct))[0];

    /// <summary>Staff: a store's items with filters; customers: their own; API keys: their organization's (or store's).</summary>
    public async Task<IReadOnlyList<WorkItemDto>> ListAsync(CurrentUser user, string? storeId, string? state, string? category, string? assigneeId, string? kind,
        string? customerId, bool? overdue, bool? open, int? limit, CancellationToken ct)
    {
        user.RequirePermission(Permissions.WorkItemsRead);
        var where = await access.ListScopeAsync(user, storeId, ct);
        var stores = Access.VisibleStores(user);
        if (state is not null)
            where.Add("state = @state");
        if (category is not null)
            where.Add("category = @category");
        if (assigneeId is not null)
            where.Add(assigneeId == "me" ? "assignee_id = @me" : "assignee_id = @assigneeId");
        if (kind is not null)
            where.Add("kind = @kind");
        if (customerId is not null && !user.IsCustomer)
            where.Add("customer_id = @customerId");
        if (overdue == true)
            where.Add("due_at < @now AND closed_at IS NULL");
        if (open == true)
            where.Add("closed_at IS NULL");
        else if (open == false)
            where.Add("closed_at IS NOT NULL");
        var rows = await db.QueryAsync<WorkItemRow>($"""
            SELECT {WorkItemRow.Columns} FROM work_items WHERE {string.Join(" AND ", where)} ORDER BY updated_at DESC, id LIMIT @take
            """, new
        {
            orgId = user.OrgId, me = user.Id, storeId, state, category, assigneeId, kind, customerId, stores,
            now = clock.GetUtcNow().ToUnixTimeMilliseconds(), take = Math.Clamp(limit ?? 100, 1, 500),
        }, ct);
        return await ViewAsync(user, rows, ct);
    }

    public async Task<IReadOnlyList<TimelineEventDto>> TimelineAsync(CurrentUser user, string workItemId, CancellationToken ct) =>
        await Timeline.WorkItems.ReadAsync(db, (await access.WorkItemAsync(user, workItemId, ct)).Id, ct);

    /// <summary>The DTOs of items for a caller (null: the staff view used in pushes).</summary>
    /// <remarks>Inside a change's transaction pass it as <paramref name="tx"/>: every read then goes through it.</remarks>
    private async Task<IReadOnlyList<WorkItemDto>> ViewAsync(CurrentUser? user, IReadOnlyList<WorkItemRow> items, CancellationToken ct,
        (DbConnection Connection, DbTransaction Transaction)? tx = null)
    {
        // Through the change's transaction when given one, else on a pooled connection.
        async Task<IEnumerable<T>> ReadAsync<T>(string sql, object args) =>
            tx is (var c, var t) ? await c.QueryAsync<T>(sql, args, t) : await db.QueryAsync<T>(sql, args, ct);
        var ids = items.Select(i => i.Id).ToList();
        var requests = (await ReadAsync<RequestRow>($"SELECT {RequestRow.Columns} FROM work_item_requests WHERE {db.Dialect.In("work_item_id", "@ids")} ORDER BY created_at, id",
            new { ids })).ToLookup(r => r.WorkItemId);
        var staffIds = items.Select(i => i.AssigneeId).OfType<string>().Distinct().ToList();
        var names = (await ReadAsync<(string Id, string Name)>($"SELECT id, name FROM staff WHERE {db.Dialect.In("id", "@staffIds")}", new { staffIds }))
            .ToDictionary(s => s.Id, s => s.Name);
        var customerIds = items.Select(i => i.CustomerId).Distinct().ToList();
        var customers = (await ReadAsync<(string Id, string? Name)>($"SELECT id, name FROM customers WHERE {db.Dialect.In("id", "@customerIds")}",
            new { customerIds })).ToDictionary(s => s.Id);
        // A customer reads their items' states and actions in their language, as on the cards; staff in the console's.
        var language = user?.Language ?? Texts.DefaultLanguage;
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var result = new List<WorkItemDto>();
        foreach (var item in items)
        {
            var definition = await DefinitionAsync(item, ct, tx);
            var state = definition.State(item.State)!;
            var pending = requests[item.Id].Where(r => r.Status == "pending").ToList();
            var actions = Notifier.CustomerActions(state, pending, language);
            IReadOnlyList<string>? transitions = user is { IsCustomer: true } ? null
                : definition.States!.Where(s => definition.RolesFor(item.State, s.Key!) is { Count: > 0 } roles
                    && (user is null || !user.IsStaff || user.IsOrgAdmin || roles.Any(r => user.HasStoreRole(item.StoreId, r)))).Select(s => s.Key!).ToList();
            result.Add(new WorkItemDto(item.Id, item.StoreId, item.CustomerId, CustomerNames.Display(item.CustomerId, customers.GetValueOrDefault(item.CustomerId).Name, language), item.Kind, item.Number, item.TemplateId, (int)item.TemplateVersion,
                item.State, state.Label!, state.CustomerText(language), state.Terminal, item.Title, item.Category,
                definition.Categories?.FirstOrDefault(c => c.Key == item.Category)?.Label, item.Priority,
                item.AssigneeId, item.AssigneeId is null ? null : names.GetValueOrDefault(item.AssigneeId), item.Team, item.FieldMap, item.AttachmentList,
                item.ConversationId, item.ConversationId is null || item.TranscriptFrom is null ? null : new TranscriptDto(item.ConversationId, item.TranscriptFrom.Value, item.TranscriptTo ?? item.TranscriptFrom.Value),
                item.ExternalId is null ? null : new ExternalRefDto(item.ExternalSystem, item.ExternalId),
                item.DueAt is null ? null : DateTimeOffset.FromUnixTimeMilliseconds(item.DueAt.Value), item.DueAt < now && item.ClosedAt is null, (int)item.Version,
                DateTimeOffset.FromUnixTimeMilliseconds(item.CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(item.UpdatedAt),
                DateTimeOffset.FromUnixTimeMilliseconds(item.StateEnteredAt), actions, requests[item.Id].Select(r => r.ToDto()).ToList(), transitions));
        }
        return result;
    }

    private async Task<TemplateDefinition> DefinitionAsync(WorkItemRow item, CancellationToken ct, (DbConnection, DbTransaction)? tx = null) =>
        (await templates.DefinitionAsync(item.TemplateId, (int)item.TemplateVersion, ct, tx))!;
}
