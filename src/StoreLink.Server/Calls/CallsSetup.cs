using StoreLink.Server.Accounts;

namespace StoreLink.Server.Calls;

public static class CallsSetup
{
    public static WebApplicationBuilder AddCalls(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<CallsOptions>().BindConfiguration("Calls")
            .Validate(o => o.IsValid(), "Calls: ring timeout and lost-after above zero, mesh of 2–8, TURN URLs need Calls:Turn:Secret, ForceRelay needs TURN URLs, a Janus bitrate above zero and 2–64 publishers.").ValidateOnStart();
        builder.Services.AddSingleton<IceServers>();
        // Room operations are a few short requests per call; a Janus that does not answer in 10 s is treated as down.
        builder.Services.AddHttpClient<JanusRooms>(http => http.Timeout = TimeSpan.FromSeconds(10));
        builder.Services.AddSingleton<CallRecordings>();
        builder.Services.AddSingleton<CallRooms>();
        builder.Services.AddSingleton<CallActions>();
        builder.Services.AddHostedService<CallSweeper>();
        return builder;
    }

    public static void MapCalls(this WebApplication app)
    {
        var calls = app.MapGroup("/v1/calls").RequireAuthorization().WithTags("Calls");
        calls.MapGet("/ice-servers", (CurrentUser user, IceServers servers) => TypedResults.Ok(servers.For(user)));
        CallsApi.Map(app, calls);
    }
}
