using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Workflows;

// The machinery every change goes through: places, retries, idempotency keys, the timeline, the card, the push.
public sealed partial class AppointmentActions
{
    private const int MaxAttempts = 6;

    /// <summary>
    /// Takes the first free place of the slot: the technician asked for (or the one the appointment had), else the least
    /// booked, in the schedule's order. Null when every place is taken. The unique index on places is the last word.
    /// </summary>
    private static async Task<(string TechnicianId, long Place)?> TakePlaceAsync(DbConnection c, DbTransaction t, AppointmentRow into, IReadOnlyList<TechnicianDef> technicians)
    {
        var taken = (await c.QueryAsync<(string TechnicianId, long Place)>("""
            SELECT technician_id, place FROM appointments WHERE store_id = @StoreId AND starts_at = @StartsAt AND status = 'booked' AND id <> @Id
            """, into, t)).ToLookup(p => p.TechnicianId, p => p.Place);
        var order = technicians.Select((technician, index) => (technician, index))
            .OrderBy(x => x.technician.StaffId == into.TechnicianId ? 0 : 1)
            .ThenBy(x => (double)taken[x.technician.StaffId!].Count() / x.technician.Places)
            .ThenBy(x => x.index);
        foreach (var (technician, _) in order)
        {
            var places = taken[technician.StaffId!].ToHashSet();
            for (long place = 1; place <= technician.Places; place++)
                if (!places.Contains(place))
                    return (technician.StaffId!, place);
        }
        return null;
    }

    /// <summary>
    /// Runs a change again when a concurrent one took the same place (or key) first: a unique violation on SQLite or
    /// PostgreSQL, or a serialization failure that outlasted <see cref="Db.InTransactionAsync{T}"/>'s own retries.
    /// </summary>
    private static async Task<T> RetryAsync<T>(Func<Task<T>> change)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await change();
            }
            catch (Exception e) when (attempt < MaxAttempts && (SqlDialect.IsUniqueViolation(e) || e is Npgsql.PostgresException { SqlState: "40001" or "40P01" }))
            {
                await Task.Delay(Random.Shared.Next(1, 20 * attempt));
            }
        }
    }

    /// <summary>
    /// When the customer hears of a change: at once when it is their own doing (the answer to their tap); otherwise after
    /// the store's quiet hours, unless that would be less than an hour before the slot.
    /// </summary>
    private DateTimeOffset CardDue(CurrentUser user, StoreRow store, long startsAt)
    {
        var now = clock.GetUtcNow();
        if (user.IsCustomer)
            return now;
        var due = Notifier.DueAt(store, now, urgent: false);
        return due.AddHours(1).ToUnixTimeMilliseconds() > startsAt ? now : due;
    }

    private static bool Done(AppointmentRow appointment, long target, string? technicianId) =>
        appointment.Status == AppointmentStatuses.Booked && appointment.StartsAt == target && (technicianId is null || technicianId == appointment.TechnicianId);

    private static async Task<AppointmentRow> CurrentAsync(DbConnection c, DbTransaction t, string id) =>
        await c.QuerySingleAsync<AppointmentRow>($"SELECT {AppointmentRow.Columns} FROM appointments WHERE id = @id", new { id }, t);

    /// <summary>
    /// The appointment an earlier use of <paramref name="key"/> by this caller made or changed, or null; a key used with
    /// another action or another appointment is refused (422) rather than answered with an unrelated appointment.
    /// </summary>
    private async Task<string?> ByKeyAsync(CurrentUser user, string key, string action, string? appointmentId, CancellationToken ct) =>
        Matching(await db.QuerySingleOrDefaultAsync<(string AppointmentId, string Action)?>(ByKeySql, new { id = user.Id, key }, ct), user, action, appointmentId);

    private static async Task<string?> ByKeyAsync(DbConnection c, DbTransaction t, CurrentUser user, string key, string action, string? appointmentId) =>
        Matching(await c.QuerySingleOrDefaultAsync<(string AppointmentId, string Action)?>(ByKeySql, new { id = user.Id, key }, t), user, action, appointmentId);

    private const string ByKeySql = "SELECT appointment_id, action FROM appointment_actions WHERE actor_id = @id AND action_id = @key";

    private static string? Matching((string AppointmentId, string Action)? used, CurrentUser user, string action, string? appointmentId) =>
        used is not { } u ? null
        : u.Action == action && (appointmentId is null || u.AppointmentId == appointmentId) ? u.AppointmentId
        : throw new ApiException(ErrorCodes.Unprocessable, Texts.Get(user.Language, "appointment_key_reused"));

    private async Task RecordKeyAsync(DbConnection c, DbTransaction t, CurrentUser user, string key, string appointmentId, string action) =>
        await c.ExecuteAsync("INSERT INTO appointment_actions (actor_id, action_id, appointment_id, action, created_at) VALUES (@actor, @key, @appointmentId, @action, @now)",
            new { actor = user.Id, key, appointmentId, action, now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, t);

    /// <summary>After commit: deliver the card soon, and tell the technician (and the one it had), the store's managers and org admins.</summary>
    private async Task AfterChangeAsync(string appointmentId, string? previousTechnician, CancellationToken ct)
    {
        notifier.Kick();
        var row = (await db.QuerySingleOrDefaultAsync<AppointmentRow>($"SELECT {AppointmentRow.Columns} FROM appointments WHERE id = @appointmentId", new { appointmentId }, ct))!;
        var last = (await Timeline.Appointments.LastAsync(db, appointmentId, ct))!;
        var users = new[] { row.TechnicianId, previousTechnician, last.Actor.Kind == "staff" ? last.Actor.Id : null }.OfType<string>().Distinct().ToArray();
        await bus.PublishAsync(new RealtimeEvent(RealtimeEventKind.Push, new Audience(users, ManagersOf: row.StoreId, OrgAdminsOf: row.OrgId),
            Frames.Serialize(new { type = "appointment", appointment = (await ViewAsync(null, [row], ct))[0], @event = last })), ct);
    }
}
