namespace StoreLink.Server.Desk;

public static class DeskSetup
{
    public static WebApplicationBuilder AddDesk(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<DeskSignals>();
        builder.Services.AddSingleton<Router>();
        builder.Services.AddSingleton<AutoReplies>();
        builder.Services.AddSingleton<QueueActions>();
        builder.Services.AddSingleton<DeskActions>();
        builder.Services.AddSingleton<CannedReplies>();
        builder.Services.AddSingleton<Csat>();
        builder.Services.AddSingleton<CustomerPanel>();
        builder.Services.AddHostedService<DrainLoop>();
        return builder;
    }
}
