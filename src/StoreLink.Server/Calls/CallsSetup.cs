namespace StoreLink.Server.Calls;

public static class CallsSetup
{
    public static WebApplicationBuilder AddCalls(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<CallsOptions>().BindConfiguration("Calls")
            .Validate(o => o.IsValid(), "Calls: ring timeout and lost-after above zero, mesh of 2–8, TURN URLs need Calls:Turn:Secret.").ValidateOnStart();
        builder.Services.AddSingleton<CallActions>();
        builder.Services.AddHostedService<CallSweeper>();
        return builder;
    }

    public static void MapCalls(this WebApplication app)
    {
        var calls = app.MapGroup("/v1/calls").RequireAuthorization().WithTags("Calls");
        CallsApi.Map(app, calls);
    }
}
