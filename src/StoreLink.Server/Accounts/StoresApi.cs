using Microsoft.AspNetCore.Http.HttpResults;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

public static class StoresApi
{
    public static void MapStores(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/stores").RequireAuthorization().WithTags("Stores");
        group.MapGet("/", ListAsync);
        group.MapGet("/{id}", async (string id, CurrentUser user, Access access, CancellationToken ct) =>
            TypedResults.Ok((await access.StoreAsync(user, id, ct)).ToDto()));
        group.MapPost("/", async (CreateStoreRequest body, CurrentUser user, StoreActions actions, CancellationToken ct) =>
        {
            var store = await actions.CreateAsync(user, body, ct);
            return TypedResults.Created($"/v1/stores/{store.Id}", store);
        });
        group.MapPatch("/{id}", async (string id, UpdateStoreRequest body, CurrentUser user, StoreActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.UpdateAsync(user, id, body, ct)));
    }

    private static async Task<Ok<StoreDto[]>> ListAsync(CurrentUser user, Db db, CancellationToken ct)
    {
        user.RequirePermission(Permissions.StoresRead);
        var stores = await db.QueryAsync<StoreRow>(StoreRow.SelectByOrg, new { orgId = user.OrgId }, ct);
        return TypedResults.Ok(stores.Where(s => Access.CanSeeStore(user, s)).Select(s => s.ToDto()).ToArray());
    }
}

public sealed class StoreActions(Db db, Access access, Desk.DeskSignals signals, TimeProvider clock)
{
    public async Task<StoreDto> CreateAsync(CurrentUser user, CreateStoreRequest body, CancellationToken ct)
    {
        Access.RequireOrgAdmin(user);
        var v = new Validation();
        var key = v.Required("store_key", body.StoreKey, 64);
        if (key.Length > 0 && !IsStoreKey(key))
            v.Add("store_key", "Lowercase letters, digits and '-' only, 3 to 64 characters.");
        var name = v.Required("name", body.Name, 100);
        var kind = body.Kind ?? "direct";
        if (kind is not ("direct" or "franchise"))
            v.Add("kind", "Either direct or franchise.");
        var timeZone = body.TimeZone ?? "Asia/Shanghai";
        if (!WeeklyHours.IsTimeZone(timeZone))
            v.Add("time_zone", "An IANA time zone such as Asia/Shanghai.");
        var hours = body.BusinessHours ?? [];
        WeeklyHours.Validate(v, "business_hours", hours);
        v.ThrowIfAny();

        var row = new StoreRow
        {
            Id = Ids.New("st", clock), OrgId = user.OrgId, StoreKey = key, Name = name, Kind = kind, TimeZone = timeZone,
            BusinessHours = WeeklyHours.Serialize(hours), CreatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        var inserted = await db.ExecuteAsync("""
            INSERT INTO stores (id, org_id, store_key, name, kind, time_zone, business_hours, created_at)
            VALUES (@Id, @OrgId, @StoreKey, @Name, @Kind, @TimeZone, @BusinessHours, @CreatedAt)
            ON CONFLICT (store_key) DO NOTHING
            """, row, ct);
        if (inserted == 0)
            throw ApiException.Conflict(Texts.Get(user.Language, "store_key_taken", ("key", key)));
        return row.ToDto();
    }

    public async Task<StoreDto> UpdateAsync(CurrentUser user, string id, UpdateStoreRequest body, CancellationToken ct)
    {
        var store = await access.StoreAsync(user, id, ct);
        if (!user.HasStoreRole(store.Id, Roles.Manager))
            throw ApiException.Forbidden("Only the store's manager or an organization admin may change it.");
        var v = new Validation();
        if (body.Name is not null)
            store.Name = v.Required("name", body.Name, 100);
        if (body.Kind is not null && !user.IsOrgAdmin)
            v.Add("kind", "Only an organization admin may change the kind of a store.");
        else if (body.Kind is not null and not ("direct" or "franchise"))
            v.Add("kind", "Either direct or franchise.");
        else if (body.Kind is not null)
            store.Kind = body.Kind;
        if (body.TimeZone is not null && !WeeklyHours.IsTimeZone(body.TimeZone))
            v.Add("time_zone", "An IANA time zone such as Asia/Shanghai.");
        else if (body.TimeZone is not null)
            store.TimeZone = body.TimeZone;
        if (body.BusinessHours is not null)
        {
            WeeklyHours.Validate(v, "business_hours", body.BusinessHours);
            store.BusinessHours = WeeklyHours.Serialize(body.BusinessHours);
        }
        if (body.SlaFirstResponseMinutes is < 1 or > 10_000)
            v.Add("sla_first_response_minutes", "1 to 10000 business minutes.");
        else if (body.SlaFirstResponseMinutes is not null)
            store.SlaFirstResponseMinutes = body.SlaFirstResponseMinutes.Value;
        if (body.SlaResolutionMinutes is < 1 or > 100_000)
            v.Add("sla_resolution_minutes", "1 to 100000 business minutes.");
        else if (body.SlaResolutionMinutes is not null)
            store.SlaResolutionMinutes = body.SlaResolutionMinutes.Value;
        if (body.QuietHours is { } quiet)
        {
            // Both empty: no quiet hours. Otherwise two different local times.
            var none = string.IsNullOrEmpty(quiet.Start) && string.IsNullOrEmpty(quiet.End);
            if (!none && (!TimeOnly.TryParseExact(quiet.Start, "HH:mm", out var start) || !TimeOnly.TryParseExact(quiet.End, "HH:mm", out var end) || start == end))
                v.Add("quiet_hours", "start and end as HH:mm local time, different (21:00 and 08:30 span midnight); both empty for none.");
            (store.QuietStart, store.QuietEnd) = none ? (null, null) : (quiet.Start, quiet.End);
        }
        if (body.CustomerWorkKinds is { } kinds)
        {
            if (kinds.Any(k => !Workflows.Templates.Kinds.Contains(k)))
                v.Add("customer_work_kinds", "Kinds of work item: ticket, order, care_job.");
            store.CustomerWorkKinds = System.Text.Json.JsonSerializer.Serialize(kinds.Distinct().ToList());
        }
        if (body.CallsRecording is { } recording)
            store.CallsRecording = recording ? 1 : 0;
        v.ThrowIfAny();
        await db.ExecuteAsync("""
            UPDATE stores SET name = @Name, kind = @Kind, time_zone = @TimeZone, business_hours = @BusinessHours,
                sla_first_response_minutes = @SlaFirstResponseMinutes, sla_resolution_minutes = @SlaResolutionMinutes,
                quiet_start = @QuietStart, quiet_end = @QuietEnd, customer_work_kinds = @CustomerWorkKinds,
                calls_recording = @CallsRecording
            WHERE id = @Id
            """, store, ct);
        // New hours may open the store: waiting conversations get their chance.
        signals.Drain(store.Id);
        return store.ToDto();
    }

    private static bool IsStoreKey(string key) =>
        key.Length is >= 3 and <= 64 && key.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-');
}
