using System.Globalization;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Workflows;

/// <summary>
/// Appointments: the schedule a manager keeps, the slots it offers, and booking, moving and cancelling by the customer
/// (from the chat) or by staff. Every change is one transaction that takes or frees a place, appends to the
/// appointment's timeline and schedules the customer's card and reminders (see <see cref="Notifier"/>); the technician
/// and the store's managers get an <c>appointment</c> push once it has committed. A place is a row under a unique
/// index, so the last place of a slot is taken once whatever the isolation level and however many ask at once.
/// </summary>
public sealed partial class AppointmentActions(Db db, Access access, Notifier notifier, IEventBus bus, TimeProvider clock)
{
    /// <summary>Refuses a change (<paramref name="action"/>: <c>move</c>, <c>cancel</c>, <c>close</c>) of an appointment that is over.</summary>
    private static void RequireBooked(CurrentUser user, AppointmentRow appointment, string action)
    {
        var state = appointment.Status switch
        {
            AppointmentStatuses.Cancelled => "appointment_is_cancelled",
            AppointmentStatuses.Completed => "appointment_is_completed",
            AppointmentStatuses.NoShow => "appointment_is_closed",
            _ => null,
        };
        if (state is not null)
            throw ApiException.Conflict(Texts.Get(user.Language, "appointment_not_booked",
                ("state", Texts.Get(user.Language, state)), ("action", Texts.Get(user.Language, $"appointment_to_{action}"))));
    }

    /// <summary>A refusal in the caller's language.</summary>
    private static ApiException Refused(CurrentUser user, string key, params (string Name, string Value)[] values) =>
        ApiException.Conflict(Texts.Get(user.Language, key, values));

    private async Task<AppointmentRow> WritableAsync(CurrentUser user, string appointmentId, CancellationToken ct)
    {
        var appointment = await access.AppointmentAsync(user, appointmentId, ct);
        user.RequirePermission(Permissions.WorkItemsWrite);
        return appointment;
    }

    /// <summary>A store by key (customers; anyone) or id (staff and API keys), of the caller's organization.</summary>
    private async Task<StoreRow> StoreForAsync(CurrentUser user, string? storeKey, string? storeId, CancellationToken ct)
    {
        if (storeId is not null && !user.IsCustomer)
            return await access.StoreAsync(user, storeId, ct);
        var store = await access.StoreByKeyAsync(storeKey, ct);
        if (store.OrgId != user.OrgId)
            throw ApiException.NotFound("The store");
        if (!user.IsCustomer && !Access.CanSeeStore(user, store))
            throw ApiException.NotFound("The store");
        return store;
    }

    /// <summary>Who may take appointments in the store: staff with a role there (org admins too) whose account is not disabled.</summary>
    private async Task<IReadOnlySet<string>> ActiveStaffAsync(StoreRow store, CancellationToken ct) =>
        (await db.QueryAsync<string>("""
            SELECT DISTINCT s.id FROM staff s JOIN staff_roles r ON r.staff_id = s.id
            WHERE s.disabled_at IS NULL AND s.org_id = @orgId AND (r.store_id = @storeId OR r.role = 'org_admin')
            """, new { orgId = store.OrgId, storeId = store.Id }, ct)).ToHashSet();

    private async Task<Dictionary<string, string>> StaffNamesAsync(IEnumerable<string> ids, CancellationToken ct)
    {
        var list = ids.Distinct().ToList();
        return list.Count == 0 ? []
            : (await db.QueryAsync<(string Id, string Name)>($"SELECT id, name FROM staff WHERE {db.Dialect.In("id", "@list")}", new { list }, ct)).ToDictionary(s => s.Id, s => s.Name);
    }

    /// <summary>The conversation the cards go to: the one given (the customer's, with this store), else their open one, else decided at delivery.</summary>
    private async Task<string?> ConversationIdAsync(CurrentUser user, string? conversationId, string customerId, string storeId, CancellationToken ct)
    {
        if (conversationId is not null)
        {
            var conversation = await access.ConversationAsync(user, conversationId, ct);
            if (conversation.Facts.Kind != ConversationKinds.Service || conversation.Facts.CustomerId != customerId || conversation.Facts.StoreId != storeId)
                throw ApiException.Invalid("conversation_id is a service conversation of this customer with this store.");
            return conversation.Facts.Id;
        }
        return await db.QuerySingleOrDefaultAsync<string>(
            "SELECT id FROM conversations WHERE kind = 'service' AND customer_id = @customerId AND store_id = @storeId AND state <> 'resolved' ORDER BY updated_at DESC LIMIT 1",
            new { customerId, storeId }, ct);
    }
}
