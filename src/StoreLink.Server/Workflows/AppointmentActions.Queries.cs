using System.Globalization;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

// Reads: one appointment, lists, its timeline, and the DTO view shared with the pushes.
public sealed partial class AppointmentActions
{
    public async Task<AppointmentDto> GetAsync(CurrentUser user, string appointmentId, CancellationToken ct) =>
        (await ViewAsync(user, [await access.AppointmentAsync(user, appointmentId, ct)], ct))[0];

    /// <summary>Staff: their stores' appointments with filters; customers: their own; API keys: their organization's (or store's).</summary>
    public async Task<IReadOnlyList<AppointmentDto>> ListAsync(CurrentUser user, string? storeId, DateTimeOffset? from, DateTimeOffset? to, string? status,
        string? customerId, string? technicianId, string? workItemId, int? limit, CancellationToken ct)
    {
        user.RequirePermission(Permissions.WorkItemsRead);
        var where = await access.ListScopeAsync(user, storeId, ct);
        var stores = Access.VisibleStores(user);
        if (from is not null)
            where.Add("starts_at >= @fromMs");
        if (to is not null)
            where.Add("starts_at < @toMs");
        if (status is not null)
            where.Add("status = @status");
        if (customerId is not null && !user.IsCustomer)
            where.Add("customer_id = @customerId");
        if (technicianId is not null)
            where.Add(technicianId == "me" ? "technician_id = @me" : "technician_id = @technicianId");
        if (workItemId is not null)
            where.Add("work_item_id = @workItemId");
        var rows = await db.QueryAsync<AppointmentRow>($"""
            SELECT {AppointmentRow.Columns} FROM appointments WHERE {string.Join(" AND ", where)} ORDER BY starts_at, id LIMIT @take
            """, new
        {
            orgId = user.OrgId, me = user.Id, storeId, fromMs = from?.ToUnixTimeMilliseconds(), toMs = to?.ToUnixTimeMilliseconds(), status, customerId,
            technicianId, workItemId, stores, take = Math.Clamp(limit ?? 100, 1, 500),
        }, ct);
        return await ViewAsync(user, rows, ct);
    }

    public async Task<IReadOnlyList<TimelineEventDto>> EventsAsync(CurrentUser user, string appointmentId, CancellationToken ct) =>
        await Timeline.Appointments.ReadAsync(db, (await access.AppointmentAsync(user, appointmentId, ct)).Id, ct);

    /// <summary>The DTOs of appointments for a caller (null: the staff view used in pushes).</summary>
    private async Task<IReadOnlyList<AppointmentDto>> ViewAsync(CurrentUser? user, IReadOnlyList<AppointmentRow> rows, CancellationToken ct)
    {
        if (rows.Count == 0)
            return [];
        var staff = await StaffNamesAsync(rows.Select(r => r.TechnicianId), ct);
        var customerIds = rows.Select(r => r.CustomerId).Distinct().ToList();
        var customers = (await db.QueryAsync<(string Id, string? Name)>($"SELECT id, name FROM customers WHERE {db.Dialect.In("id", "@customerIds")}", new { customerIds }, ct))
            .ToDictionary(c => c.Id, c => c.Name);
        var itemIds = rows.Select(r => r.WorkItemId).OfType<string>().Distinct().ToList();
        var numbers = itemIds.Count == 0 ? []
            : (await db.QueryAsync<(string Id, string Number)>($"SELECT id, number FROM work_items WHERE {db.Dialect.In("id", "@itemIds")}", new { itemIds }, ct)).ToDictionary(i => i.Id, i => i.Number);
        var schedules = new Dictionary<string, ScheduleDefinition>();
        foreach (var storeId in rows.Select(r => r.StoreId).Distinct())
            schedules[storeId] = await ScheduleAsync(storeId, ct) ?? new ScheduleDefinition(null, null, null, null, null, null, null, null, null);
        var now = clock.GetUtcNow();
        var language = user?.Language ?? Texts.DefaultLanguage;
        return rows.Select(r =>
        {
            var schedule = schedules[r.StoreId];
            IReadOnlyList<string> actions = user is { IsCustomer: true } ? Notifier.AppointmentActions(r, schedule, now)
                : r.Status == AppointmentStatuses.Booked ? ["reschedule", "cancel", AppointmentStatuses.Completed, AppointmentStatuses.NoShow] : [];
            return new AppointmentDto(r.Id, r.StoreId, r.CustomerId, CustomerNames.Display(r.CustomerId, customers.GetValueOrDefault(r.CustomerId), language), r.Service,
                schedule.ServiceLabel(r.Service, language), DateTimeOffset.FromUnixTimeMilliseconds(r.StartsAt), DateTimeOffset.FromUnixTimeMilliseconds(r.EndsAt),
                r.TechnicianId, staff.GetValueOrDefault(r.TechnicianId), r.Status, r.WorkItemId, r.WorkItemId is null ? null : numbers.GetValueOrDefault(r.WorkItemId),
                r.Note, r.ConversationId, (int)r.Version, DateTimeOffset.FromUnixTimeMilliseconds(r.CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(r.UpdatedAt), actions);
        }).ToList();
    }
}
