using System.Data.Common;
using System.Text.Json;
using System.Threading.Channels;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

/// <summary>
/// Brings what the customer should hear into their chat: the cards of work items and appointments, reminders, and
/// templated notifications. They are rows of one table, <c>customer_notices</c> (a subject — work item, appointment,
/// notification — a kind, a due time, a state, a payload), written by one scheduler in the transaction of the change
/// (so nothing is lost by a crash) and delivered by one loop, which asks the subject's renderer
/// (<c>Notifier.WorkItems.cs</c>, <c>.Appointments.cs</c>, <c>.Notifications.cs</c>) what to post. A notice is due at
/// once, or at the end of the store's quiet hours unless urgent. Cards merge: one waits per subject, so updates during
/// quiet hours become one card showing the latest state. A notice's id is its message's <c>client_msg_id</c>, so a
/// notice delivered twice (a crash between posting and marking it, two nodes) is stored once.
/// </summary>
public sealed partial class Notifier(Db db, Templates templates, SystemPosts posts, TimeProvider clock,
    ILogger<Notifier> logger)
{
    private readonly Channel<bool> _kick = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    internal ChannelReader<bool> Kicks => _kick.Reader;

    /// <summary>Deliver what is due now, soon (after the change that scheduled it has committed).</summary>
    public void Kick() => _kick.Writer.TryWrite(true);

    /// <summary>When a card for this store is due: now, or at the end of its quiet hours unless urgent.</summary>
    public static DateTimeOffset DueAt(StoreRow store, DateTimeOffset now, bool urgent)
    {
        if (urgent || store.QuietStart is null || store.QuietEnd is null)
            return now;
        var zone = TimeZoneInfo.FindSystemTimeZoneById(store.TimeZone);
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var start = TimeOnly.ParseExact(store.QuietStart, "HH:mm");
        var end = TimeOnly.ParseExact(store.QuietEnd, "HH:mm");
        var time = TimeOnly.FromDateTime(local.DateTime);
        var quiet = start < end ? time >= start && time < end : time >= start || time < end;
        if (!quiet)
            return now;
        var endDay = DateOnly.FromDateTime(local.DateTime);
        if (time >= end)
            endDay = endDay.AddDays(1);
        var endLocal = endDay.ToDateTime(end);
        return new DateTimeOffset(endLocal, zone.GetUtcOffset(endLocal));
    }

    /// <summary>
    /// Schedules a notice inside the transaction of the change. A card merges with the subject's card that still
    /// waits: it takes that one's place under a new id, due at the earlier of the two times.
    /// </summary>
    public async Task ScheduleAsync(DbConnection c, DbTransaction t, string subjectType, string subjectId, string kind, DateTimeOffset due,
        object? payload = null, string? id = null)
    {
        await c.ExecuteAsync($"""
            INSERT INTO customer_notices (id, subject_type, subject_id, kind, merge_key, due_at, state, payload, created_at)
            VALUES (@id, @subjectType, @subjectId, @kind, @mergeKey, @due, 'pending', @payload, @now)
            ON CONFLICT (merge_key) WHERE state = 'pending'
            DO UPDATE SET id = excluded.id, due_at = {db.Dialect.Least("customer_notices.due_at", "excluded.due_at")}
            """, new
        {
            id = id ?? Ids.New(kind == NoticeKinds.Reminder ? "rmd" : "ntc", clock), subjectType, subjectId, kind,
            mergeKey = kind == NoticeKinds.Card ? $"{subjectType}:{subjectId}" : null, due = due.ToUnixTimeMilliseconds(),
            payload = JsonSerializer.Serialize(payload ?? new { }, ProtocolJson.Options), now = clock.GetUtcNow().ToUnixTimeMilliseconds(),
        }, t);
    }

    /// <summary>The subject's waiting notices of a kind have nothing left to say (a reminder of a state left, a card replaced).</summary>
    public Task VoidAsync(DbConnection c, DbTransaction t, string subjectType, string subjectId, string kind) =>
        c.ExecuteAsync("""
            UPDATE customer_notices SET state = 'void', done_at = @now
            WHERE subject_id = @subjectId AND kind = @kind AND subject_type = @subjectType AND state = 'pending'
            """, new { subjectId, kind, subjectType, now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, t);

    /// <summary>Delivers every notice that is due. Answers how many were posted.</summary>
    public async Task<int> DeliverDueAsync(CancellationToken ct)
    {
        var due = await db.QueryAsync<NoticeRow>(
            $"SELECT {NoticeRow.Columns} FROM customer_notices WHERE state = 'pending' AND due_at <= @now ORDER BY due_at LIMIT 200",
            new { now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, ct);
        var delivered = 0;
        foreach (var notice in due)
        {
            try
            {
                var outcome = notice.SubjectType switch
                {
                    NoticeSubjects.WorkItem => await DeliverWorkItemAsync(notice, ct),
                    NoticeSubjects.Appointment => await DeliverAppointmentAsync(notice, ct),
                    NoticeSubjects.Notification => await DeliverNotificationAsync(notice, ct),
                    _ => Outcome.Void,
                };
                if (await FinishAsync(notice, outcome, ct))
                    delivered++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Notice {Notice} ({Kind} of {Subject} {SubjectId}) not delivered, attempt {Attempt}; retried on the next round",
                    notice.Id, notice.Kind, notice.SubjectType, notice.SubjectId, notice.Attempts + 1);
                await db.ExecuteAsync("UPDATE customer_notices SET attempts = attempts + 1 WHERE id = @id", new { id = notice.Id }, ct);
            }
        }
        return delivered;
    }

    /// <summary>What a renderer did with a notice: posted a message, found nothing left to say, or asks for later.</summary>
    private readonly record struct Outcome(MessageDto? Message, DateTimeOffset? Later)
    {
        public static Outcome Void => default;
        public static Outcome Posted(MessageDto message) => new(message, null);
        public static Outcome Postponed(DateTimeOffset due) => new(null, due);
    }

    /// <summary>
    /// Records the outcome. Only the notice as it was read is closed: a card that a newer one replaced meanwhile (a
    /// new id under the same merge key) stays pending and is delivered in its turn.
    /// </summary>
    private async Task<bool> FinishAsync(NoticeRow notice, Outcome outcome, CancellationToken ct)
    {
        if (outcome.Later is { } later)
        {
            await db.ExecuteAsync("UPDATE customer_notices SET due_at = @due WHERE id = @id AND state = 'pending'",
                new { due = later.ToUnixTimeMilliseconds(), id = notice.Id }, ct);
            return false;
        }
        await db.ExecuteAsync("""
            UPDATE customer_notices SET state = @state, done_at = @now, message_id = @messageId, conversation_id = COALESCE(@conversationId, conversation_id)
            WHERE id = @id AND state = 'pending'
            """, new
        {
            state = outcome.Message is null ? "void" : "delivered", now = clock.GetUtcNow().ToUnixTimeMilliseconds(),
            messageId = outcome.Message?.Id, conversationId = outcome.Message?.ConversationId, id = notice.Id,
        }, ct);
        return outcome.Message is not null;
    }
}

/// <summary>What a notice is about (<c>customer_notices.subject_type</c>); each has its renderer in the notifier.</summary>
public static class NoticeSubjects
{
    public const string WorkItem = "work_item";
    public const string Appointment = "appointment";
    public const string Notification = "notification";
}

/// <summary>What a notice posts (<c>customer_notices.kind</c>): only cards merge.</summary>
public static class NoticeKinds
{
    public const string Card = "card";
    public const string Reminder = "reminder";
    public const string Notification = "notification";
}

public sealed class NoticeRow
{
    public const string Columns = "id, subject_type, subject_id, kind, due_at, state, attempts, payload, conversation_id, message_id, created_at, done_at";

    public string Id { get; set; } = "";
    public string SubjectType { get; set; } = "";
    public string SubjectId { get; set; } = "";
    public string Kind { get; set; } = "";
    public long DueAt { get; set; }
    public string State { get; set; } = "";
    public long Attempts { get; set; }
    public string Payload { get; set; } = "{}";
    public string? ConversationId { get; set; }
    public string? MessageId { get; set; }
    public long CreatedAt { get; set; }
    public long? DoneAt { get; set; }

    public T PayloadAs<T>() => JsonSerializer.Deserialize<T>(Payload, ProtocolJson.Options)!;
}

/// <summary>Delivers due notices: at once when kicked, and every few seconds (quiet hours ending, other nodes, restarts).</summary>
internal sealed class NotifierLoop(Notifier notifier, ILogger<NotifierLoop> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await notifier.DeliverDueAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Delivering customer notices failed; retrying");
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            wait.CancelAfter(Interval);
            try
            {
                await notifier.Kicks.ReadAsync(wait.Token);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
            }
        }
    }
}
