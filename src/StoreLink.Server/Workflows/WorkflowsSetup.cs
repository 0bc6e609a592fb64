namespace StoreLink.Server.Workflows;

public static class WorkflowsSetup
{
    public static WebApplicationBuilder AddWorkflows(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<Templates>();
        builder.Services.AddSingleton<Notifier>();
        builder.Services.AddSingleton<WorkItemActions>();
        builder.Services.AddSingleton<Drafts>();
        builder.Services.AddSingleton<StockAlerts>();
        builder.Services.AddSingleton<AppointmentActions>();
        builder.Services.AddSingleton<Notifications>();
        builder.Services.AddHostedService<NotifierLoop>();
        return builder;
    }
}
