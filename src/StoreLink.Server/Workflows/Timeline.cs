using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using Row = (long Seq, string Kind, string ActorId, string ActorKind, string ActorName, string Data, long CreatedAt);

namespace StoreLink.Server.Workflows;

/// <summary>Who made a change, as a timeline records it: staff, a customer, or an API key (a store's system).</summary>
public sealed record Actor(string Id, string Kind, string Name)
{
    public static Actor Of(CurrentUser user) => new(user.Id, user.IsStaff ? "staff" : user.IsCustomer ? "customer" : "api_client", user.Name);
}

/// <summary>One entry of a timeline, as <c>GET …/timeline</c> and <c>…/events</c> answer it and pushes carry it.</summary>
public sealed record TimelineEventDto(long Seq, string Kind, SenderDto Actor, JsonElement Data, DateTimeOffset CreatedAt);

/// <summary>
/// The timeline of a subject: every change, who made it and when, numbered 1, 2, 3… per subject. Work items and
/// appointments each keep theirs in a table of the same shape (<c>work_item_events</c>, <c>appointment_events</c>).
/// An entry is appended inside the change's transaction, after the statement that locks the subject's row, so
/// concurrent changes queue up and the numbers stay gapless.
/// </summary>
public sealed class Timeline
{
    public static readonly Timeline WorkItems = new("work_item_events", "work_item_id");
    public static readonly Timeline Appointments = new("appointment_events", "appointment_id");

    private readonly string _append;
    private readonly string _read;
    private readonly string _last;

    private Timeline(string table, string subjectColumn)
    {
        _append = $"""
            INSERT INTO {table} ({subjectColumn}, seq, kind, actor_id, actor_kind, actor_name, data, created_at)
            VALUES (@subjectId, (SELECT COALESCE(MAX(seq), 0) + 1 FROM {table} WHERE {subjectColumn} = @subjectId), @kind, @actorId, @actorKind, @actorName, @data, @now)
            """;
        const string columns = "seq, kind, actor_id, actor_kind, actor_name, data, created_at";
        _read = $"SELECT {columns} FROM {table} WHERE {subjectColumn} = @subjectId ORDER BY seq";
        _last = $"SELECT {columns} FROM {table} WHERE {subjectColumn} = @subjectId ORDER BY seq DESC LIMIT 1";
    }

    public Task AppendAsync(DbConnection c, DbTransaction t, string subjectId, Actor actor, string kind, object data, DateTimeOffset now) =>
        c.ExecuteAsync(_append, new
        {
            subjectId, kind, actorId = actor.Id, actorKind = actor.Kind, actorName = actor.Name,
            data = JsonSerializer.Serialize(data, ProtocolJson.Options), now = now.ToUnixTimeMilliseconds(),
        }, t);

    public async Task<IReadOnlyList<TimelineEventDto>> ReadAsync(Db db, string subjectId, CancellationToken ct) =>
        (await db.QueryAsync<Row>(_read, new { subjectId }, ct)).Select(ToDto).ToList();

    /// <summary>The latest entry (null: none yet).</summary>
    public async Task<TimelineEventDto?> LastAsync(Db db, string subjectId, CancellationToken ct) =>
        (await db.QueryAsync<Row>(_last, new { subjectId }, ct)).Select(ToDto).FirstOrDefault();

    private static TimelineEventDto ToDto(Row r) =>
        new(r.Seq, r.Kind, new SenderDto(r.ActorId, r.ActorKind, r.ActorName), JsonSerializer.Deserialize<JsonElement>(r.Data), DateTimeOffset.FromUnixTimeMilliseconds(r.CreatedAt));
}
