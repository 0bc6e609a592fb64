using Microsoft.AspNetCore.Http.HttpResults;
using StoreLink.Server.Accounts;

namespace StoreLink.Server.Workflows;

/// <summary>Appointments: the store's schedule, its free slots, and booking, moving and cancelling (docs/workflows.md, "Appointments").</summary>
public static class AppointmentsApi
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").RequireAuthorization().WithTags("Appointments");

        api.MapGet("/stores/{id}/appointment-schedule", async (string id, CurrentUser user, AppointmentActions appointments, CancellationToken ct) =>
            TypedResults.Ok(await appointments.GetScheduleAsync(user, id, ct)));
        api.MapPut("/stores/{id}/appointment-schedule", async (string id, ScheduleDefinition body, CurrentUser user, AppointmentActions appointments, CancellationToken ct) =>
            TypedResults.Ok(await appointments.PutScheduleAsync(user, id, body, ct)));
        api.MapGet("/appointment-slots", async (string? store_key, string? store_id, string? service, string? from, string? to, CurrentUser user,
                AppointmentActions appointments, CancellationToken ct) =>
            TypedResults.Ok(await appointments.SlotsAsync(user, store_key, store_id, service, from, to, ct)));

        api.MapPost("/appointments", Book);
        api.MapGet("/appointments", async (string? store_id, DateTimeOffset? from, DateTimeOffset? to, string? status, string? customer_id, string? technician_id,
                string? work_item_id, int? limit, CurrentUser user, AppointmentActions appointments, CancellationToken ct) =>
            TypedResults.Ok(await appointments.ListAsync(user, store_id, from, to, status, customer_id, technician_id, work_item_id, limit, ct)));
        var one = api.MapGroup("/appointments/{id}");
        one.MapGet("", async (string id, CurrentUser user, AppointmentActions appointments, CancellationToken ct) =>
            TypedResults.Ok(await appointments.GetAsync(user, id, ct)));
        one.MapGet("/events", async (string id, CurrentUser user, AppointmentActions appointments, CancellationToken ct) =>
            TypedResults.Ok(await appointments.EventsAsync(user, id, ct)));
        one.MapPost("/move", async (string id, MoveAppointmentRequest body, CurrentUser user, AppointmentActions appointments, CancellationToken ct) =>
            TypedResults.Ok(await appointments.MoveAsync(user, id, body, ct)));
        one.MapPost("/cancel", async (string id, CancelAppointmentRequest? body, CurrentUser user, AppointmentActions appointments, CancellationToken ct) =>
            TypedResults.Ok(await appointments.CancelAsync(user, id, body ?? new CancelAppointmentRequest(null, null), ct)));
        one.MapPost("/status", async (string id, AppointmentStatusRequest body, CurrentUser user, AppointmentActions appointments, CancellationToken ct) =>
            TypedResults.Ok(await appointments.SetStatusAsync(user, id, body, ct)));
    }

    /// <summary>201 for a new booking, 200 for a repeat of one (the same key, or the customer's booking of that slot).</summary>
    private static async Task<Results<Created<AppointmentDto>, Ok<AppointmentDto>>> Book(BookAppointmentRequest body, CurrentUser user, AppointmentActions appointments,
        CancellationToken ct)
    {
        var (appointment, created) = await appointments.BookAsync(user, body, ct);
        return created ? TypedResults.Created($"/v1/appointments/{appointment.Id}", appointment) : TypedResults.Ok(appointment);
    }
}
