using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Http;

namespace StoreLink.Server.Realtime;

public static class RealtimeSetup
{
    public static WebApplicationBuilder AddRealtime(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<RealtimeOptions>().BindConfiguration("Realtime")
            .Validate(o => o.IsValid(), "Realtime: heartbeat 1–600 s, auth timeout 1–120 s, frame 1 KiB–1 MiB, queue 16 or more.").ValidateOnStart();
        builder.Services.AddSingleton<IEventBus, InMemoryBus>();
        builder.Services.AddSingleton<ConnectionRegistry>();
        builder.Services.AddSingleton<Gateway>();
        builder.Services.AddHostedService<ConnectionExpiry>();
        builder.Services.AddSingleton<Presence>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Presence>());
        return builder;
    }

    public static void MapRealtime(this WebApplication app)
    {
        // Created at start, so it subscribes to the bus before the first event.
        var gateway = app.Services.GetRequiredService<Gateway>();
        app.UseWebSockets();
        app.Map("/v1/ws", (HttpContext http) => gateway.AcceptAsync(http)).WithTags("Realtime").ExcludeFromDescription();

        var presence = app.MapGroup("/v1").RequireAuthorization().WithTags("Presence");
        presence.MapGet("/presence", async (CurrentUser user, Presence p, CancellationToken ct) => TypedResults.Ok(await p.OrganizationAsync(user, ct)));
        presence.MapPut("/me/presence", async (PresenceDto body, CurrentUser user, Presence p, CancellationToken ct) =>
            TypedResults.Ok(await p.SetStatusAsync(user, body.Status, ct)));
        // Public: what a store's widget shows, before anyone signs in too; a signed-in customer learns of their own agent.
        app.MapGet("/v1/stores/by-key/{storeKey}/presence", async (string storeKey, HttpContext http, Access access, Presence p, CancellationToken ct) =>
        {
            var store = await access.StoreByKeyAsync(storeKey, ct);
            var customer = http.Items[CurrentUser.ItemKey] is CurrentUser { IsCustomer: true } user && user.OrgId == store.OrgId ? user.Id : null;
            return TypedResults.Ok(new StorePresenceDto(store.StoreKey, await p.StoreOnlineAsync(store.Id, customer, ct)));
        }).WithTags("Presence");
    }
}
