using System.Text.Json;
using Dapper;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Desk;

public sealed class QueueRow
{
    public const string Columns = "id, store_id, name, strategy, keywords, is_default, position, rr_cursor, created_at";

    public string Id { get; set; } = "";
    public string StoreId { get; set; } = "";
    public string Name { get; set; } = "";
    public string Strategy { get; set; } = "least_busy";
    public string Keywords { get; set; } = "[]";
    public long IsDefault { get; set; }
    public long Position { get; set; }
    public string? RrCursor { get; set; }
    public long CreatedAt { get; set; }

    public string[] KeywordList => JsonSerializer.Deserialize<string[]>(Keywords) ?? [];

    public QueueDto ToDto(IReadOnlyList<string> agentIds) =>
        new(Id, StoreId, Name, Strategy, KeywordList, IsDefault != 0, (int)Position, agentIds);
}

/// <summary>A queue of a store: who serves it (no agents listed: every agent and manager of the store) and how.</summary>
public sealed record QueueDto(string Id, string StoreId, string Name, string Strategy, IReadOnlyList<string> Keywords, bool IsDefault, int Position, IReadOnlyList<string> AgentIds);

/// <summary><c>POST /v1/stores/{id}/queues</c>, <c>PATCH /v1/queues/{id}</c> (managers).</summary>
public sealed record QueueRequest(string? Name, string? Strategy, List<string>? Keywords, bool? IsDefault, int? Position, List<string>? AgentIds);

/// <summary>Queues of a store, managed by its managers; every staff member of the store may read them, and customers see their names.</summary>
public sealed class QueueActions(Db db, Access access, DeskSignals signals, TimeProvider clock)
{
    public async Task<IReadOnlyList<QueueDto>> ListAsync(string storeId, CancellationToken ct)
    {
        var queues = await db.QueryAsync<QueueRow>($"SELECT {QueueRow.Columns} FROM queues WHERE store_id = @storeId ORDER BY position, name, id", new { storeId }, ct);
        var agents = (await db.QueryAsync<(string QueueId, string StaffId)>(
            "SELECT qa.queue_id, qa.staff_id FROM queue_agents qa JOIN queues q ON q.id = qa.queue_id WHERE q.store_id = @storeId ORDER BY qa.staff_id",
            new { storeId }, ct)).ToLookup(a => a.QueueId, a => a.StaffId);
        return queues.Select(q => q.ToDto(agents[q.Id].ToList())).ToList();
    }

    public async Task<QueueDto> CreateAsync(CurrentUser user, string storeId, QueueRequest body, CancellationToken ct)
    {
        var store = await access.StoreAsync(user, storeId, ct);
        RequireManager(user, store.Id);
        var row = new QueueRow { Id = Ids.New("que", clock), StoreId = store.Id, CreatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds() };
        var agents = await ApplyAsync(row, body, store, creating: true, ct);
        await db.InTransactionAsync(async (c, t) =>
        {
            if (row.IsDefault != 0)
                await c.ExecuteAsync("UPDATE queues SET is_default = 0 WHERE store_id = @StoreId", row, t);
            await c.ExecuteAsync($"INSERT INTO queues ({QueueRow.Columns}) VALUES (@Id, @StoreId, @Name, @Strategy, @Keywords, @IsDefault, @Position, NULL, @CreatedAt)", row, t);
            await SetAgentsAsync(c, t, row.Id, agents);
        }, ct);
        signals.Drain(store.Id);
        return row.ToDto(agents ?? []);
    }

    public async Task<QueueDto> UpdateAsync(CurrentUser user, string queueId, QueueRequest body, CancellationToken ct)
    {
        var row = await QueueAsync(user, queueId, ct);
        var store = await access.StoreAsync(user, row.StoreId, ct);
        RequireManager(user, store.Id);
        var agents = await ApplyAsync(row, body, store, creating: false, ct);
        await db.InTransactionAsync(async (c, t) =>
        {
            if (row.IsDefault != 0)
                await c.ExecuteAsync("UPDATE queues SET is_default = 0 WHERE store_id = @StoreId AND id <> @Id", row, t);
            await c.ExecuteAsync("UPDATE queues SET name = @Name, strategy = @Strategy, keywords = @Keywords, is_default = @IsDefault, position = @Position WHERE id = @Id", row, t);
            if (agents is not null)
                await SetAgentsAsync(c, t, row.Id, agents);
        }, ct);
        signals.Drain(store.Id);
        return (await ListAsync(store.Id, ct)).Single(q => q.Id == row.Id);
    }

    public async Task DeleteAsync(CurrentUser user, string queueId, CancellationToken ct)
    {
        var row = await QueueAsync(user, queueId, ct);
        RequireManager(user, row.StoreId);
        await db.InTransactionAsync(async (c, t) =>
        {
            // Conversations of the queue fall back to the store's default queue.
            await c.ExecuteAsync("UPDATE conversations SET queue_id = NULL WHERE queue_id = @Id", row, t);
            await c.ExecuteAsync("DELETE FROM queue_agents WHERE queue_id = @Id", row, t);
            await c.ExecuteAsync("DELETE FROM queues WHERE id = @Id", row, t);
        }, ct);
        signals.Drain(row.StoreId);
    }

    /// <summary>A queue of a store the caller works in.</summary>
    public async Task<QueueRow> QueueAsync(CurrentUser user, string queueId, CancellationToken ct)
    {
        var row = queueId.Length > 64 ? null : await db.QuerySingleOrDefaultAsync<QueueRow>($"SELECT {QueueRow.Columns} FROM queues WHERE id = @queueId", new { queueId }, ct);
        if (row is null)
            throw ApiException.NotFound("The queue");
        await access.StoreAsync(user, row.StoreId, ct);
        return row;
    }

    private static void RequireManager(CurrentUser user, string storeId)
    {
        if (!user.HasStoreRole(storeId, Protocol.Roles.Manager))
            throw ApiException.Forbidden("Only the store's managers change its queues.");
    }

    private async Task<List<string>?> ApplyAsync(QueueRow row, QueueRequest body, StoreRow store, bool creating, CancellationToken ct)
    {
        var v = new Validation();
        if (creating || body.Name is not null)
            row.Name = v.Required("name", body.Name, 50);
        if (body.Strategy is not null and not ("round_robin" or "least_busy"))
            v.Add("strategy", "round_robin or least_busy.");
        else if (body.Strategy is not null)
            row.Strategy = body.Strategy;
        if (body.Keywords is { } keywords)
        {
            var clean = keywords.Where(k => !string.IsNullOrWhiteSpace(k)).Select(k => k.Trim()).Distinct().ToList();
            if (clean.Count > 100 || clean.Any(k => k.Length > 30))
                v.Add("keywords", "At most 100 keywords of at most 30 characters.");
            row.Keywords = JsonSerializer.Serialize(clean);
        }
        if (body.IsDefault is not null)
            row.IsDefault = body.IsDefault.Value ? 1 : 0;
        if (body.Position is not null)
            row.Position = body.Position.Value;
        List<string>? agents = null;
        if (body.AgentIds is not null)
        {
            agents = body.AgentIds.Distinct().ToList();
            // A JSON null in the list is nobody: it stays out of the query (Dapper cannot expand a list that starts with null) and is refused by name.
            var ids = agents.Where(id => id is not null).ToArray();
            var staff = ids.Length == 0 ? [] : await db.QueryAsync<string>(
                $"SELECT DISTINCT r.staff_id FROM staff_roles r WHERE r.store_id = @storeId AND r.role IN ('agent', 'manager') AND {db.Dialect.In("r.staff_id", "@ids")}",
                new { storeId = store.Id, ids }, ct);
            foreach (var missing in agents.Except(staff))
                v.Add("agent_ids", $"{missing ?? "null"} is not an agent or manager of this store.");
        }
        v.ThrowIfAny();
        return agents;
    }

    private static async Task SetAgentsAsync(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction t, string queueId, List<string>? agents)
    {
        if (agents is null)
            return;
        await c.ExecuteAsync("DELETE FROM queue_agents WHERE queue_id = @queueId", new { queueId }, t);
        await c.ExecuteAsync("INSERT INTO queue_agents (queue_id, staff_id) VALUES (@queueId, @staffId)", agents.Select(staffId => new { queueId, staffId }), t);
    }
}
