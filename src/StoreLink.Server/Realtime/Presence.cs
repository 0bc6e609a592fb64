using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Realtime;

/// <summary>
/// Staff presence across nodes: each node counts its live connections per staff member in <c>staff_presence</c>
/// and refreshes its rows; rows a node stopped refreshing (it died) go stale and stop counting. A staff member is
/// offline without live connections, otherwise the status they chose (<c>online</c> or <c>away</c>).
/// </summary>
public sealed class Presence(Db db, IEventBus bus, Desk.DeskSignals signals, TimeProvider clock, ILogger<Presence> logger) : BackgroundService
{
    public static readonly string NodeId = Ids.New("node");
    public static readonly TimeSpan Refresh = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan Stale = TimeSpan.FromSeconds(90);

    private const string EffectiveSql = """
        SELECT s.presence_status AS status, COALESCE(SUM(p.connections), 0) AS connections
        FROM staff s LEFT JOIN staff_presence p ON p.staff_id = s.id AND p.seen_at > @fresh AND p.connections > 0
        WHERE s.id = @staffId GROUP BY s.presence_status
        """;

    public async Task ConnectedAsync(CurrentUser user, CancellationToken ct) => await ChangeAsync(user, +1, ct);

    public async Task DisconnectedAsync(CurrentUser user, CancellationToken ct) => await ChangeAsync(user, -1, ct);

    private async Task ChangeAsync(CurrentUser user, int delta, CancellationToken ct)
    {
        if (!user.IsStaff)
            return;
        var before = await StatusAsync(user.Id, ct);
        await db.ExecuteAsync("""
            INSERT INTO staff_presence (staff_id, node_id, connections, seen_at) VALUES (@staffId, @node, @initial, @now)
            ON CONFLICT (staff_id, node_id) DO UPDATE SET
                connections = CASE WHEN staff_presence.connections + @delta < 0 THEN 0 ELSE staff_presence.connections + @delta END,
                seen_at = excluded.seen_at
            """, new { staffId = user.Id, node = NodeId, initial = Math.Max(0, delta), delta, now = Now }, ct);
        await PublishIfChangedAsync(user, before, ct);
    }

    private async Task<string> PublishIfChangedAsync(CurrentUser user, string before, CancellationToken ct)
    {
        var after = await StatusAsync(user.Id, ct);
        if (after == before)
            return after;
        await bus.PublishAsync(Frames.PresenceEvent(user.Id, after, new Audience([], StaffOf: user.OrgId)), ct);
        // Someone came online: waiting customers of their stores may be assigned now.
        if (after == "online")
            foreach (var store in user.StoreIds)
                signals.Drain(store);
        return after;
    }

    public async Task<PresenceDto> SetStatusAsync(CurrentUser user, string? status, CancellationToken ct)
    {
        Access.RequireStaff(user);
        if (status is not ("online" or "away"))
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["status"] = ["online or away (offline is having no connection)."] });
        var before = await StatusAsync(user.Id, ct);
        await db.ExecuteAsync("UPDATE staff SET presence_status = @status WHERE id = @id", new { status, id = user.Id }, ct);
        return new PresenceDto(user.Id, await PublishIfChangedAsync(user, before, ct));
    }

    public async Task<string> StatusAsync(string staffId, CancellationToken ct)
    {
        var row = await db.QuerySingleOrDefaultAsync<(string Status, long Connections)>(EffectiveSql, new { staffId, fresh = Fresh }, ct);
        return row.Connections > 0 ? row.Status : "offline";
    }

    public async Task<IReadOnlyList<PresenceDto>> OrganizationAsync(CurrentUser user, CancellationToken ct)
    {
        Access.RequireStaff(user);
        var rows = await db.QueryAsync<(string Id, string Status, long Connections)>("""
            SELECT s.id, s.presence_status AS status, COALESCE(SUM(p.connections), 0) AS connections
            FROM staff s LEFT JOIN staff_presence p ON p.staff_id = s.id AND p.seen_at > @fresh AND p.connections > 0
            WHERE s.org_id = @orgId AND s.disabled_at IS NULL GROUP BY s.id, s.presence_status ORDER BY s.id
            """, new { orgId = user.OrgId, fresh = Fresh }, ct);
        return rows.Select(r => new PresenceDto(r.Id, r.Connections > 0 ? r.Status : "offline")).ToList();
    }

    /// <summary>
    /// Whether someone is there for the store's customers (the widget's header): for a customer being served, the
    /// agent serving them has a live connection, whatever their status (away only stops new conversations); for
    /// anyone else, an agent or manager of the store who would be given a new conversation is online. Technicians,
    /// whom routing never picks, do not count.
    /// </summary>
    public async Task<bool> StoreOnlineAsync(string storeId, string? customerId, CancellationToken ct) =>
        await db.QuerySingleOrDefaultAsync<long>("""
            SELECT COUNT(*) FROM staff_presence p JOIN staff s ON s.id = p.staff_id AND s.disabled_at IS NULL
            WHERE p.connections > 0 AND p.seen_at > @fresh AND (
                (s.presence_status = 'online'
                 AND EXISTS (SELECT 1 FROM staff_roles r WHERE r.staff_id = s.id AND r.store_id = @storeId AND r.role IN ('agent', 'manager')))
                OR s.id = (SELECT c.assignee_id FROM conversations c
                           WHERE c.kind = 'service' AND c.store_id = @storeId AND c.customer_id = @customerId AND c.state <> 'resolved'))
            """, new { storeId, customerId, fresh = Fresh }, ct) > 0;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Refresh, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await db.ExecuteAsync("UPDATE staff_presence SET seen_at = @now WHERE node_id = @node", new { now = Now, node = NodeId }, stoppingToken);
                await db.ExecuteAsync("DELETE FROM staff_presence WHERE seen_at <= @stale OR connections = 0", new { stale = Now - (long)Stale.TotalMilliseconds }, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Refreshing presence failed");
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await db.ExecuteAsync("DELETE FROM staff_presence WHERE node_id = @node", new { node = NodeId }, cancellationToken);
        }
        catch (Exception e) when (e is DatabaseUnavailableException or System.Data.Common.DbException or ObjectDisposedException)
        {
            // Best effort: rows of a node that stopped go stale by themselves.
        }
    }

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();
    private long Fresh => Now - (long)Stale.TotalMilliseconds;
}
