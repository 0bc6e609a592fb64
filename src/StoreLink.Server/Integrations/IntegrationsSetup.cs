using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Integrations;

public static class IntegrationsSetup
{
    public static WebApplicationBuilder AddIntegrations(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<WebhookOptions>().BindConfiguration("Webhooks")
            .Validate(o => o.IsValid(), "Webhooks: times and limits must be positive; AllowedTargets are host names or CIDR ranges.").ValidateOnStart();
        builder.Services.AddSingleton<OutboxSignal>();
        builder.Services.AddSingleton<Outbox>();
        builder.Services.AddSingleton<WebhookTargets>();
        builder.Services.AddSingleton<WebhookDispatcher>();
        builder.Services.AddHostedService(s => s.GetRequiredService<WebhookDispatcher>());
        builder.Services.AddSingleton<WebhookActions>();
        builder.Services.AddHostedService<IntegrationsMaintenance>();
        builder.Services.AddOptions<ConnectorOptions>().BindConfiguration("Connectors")
            .Validate(o => o.IsValid(), "Connectors: times and limits must be positive, ProfileTimeout at least ProfileWait.").ValidateOnStart();
        builder.Services.AddSingleton<ConnectorActions>();
        builder.Services.AddSingleton<ConnectorEvents>();
        builder.Services.AddSingleton<ConnectorHttp>();
        builder.Services.AddSingleton<ConnectorPoller>();
        builder.Services.AddHostedService(s => s.GetRequiredService<ConnectorPoller>());
        builder.Services.AddSingleton<ConnectorCommands>();
        builder.Services.AddSingleton<CommandDispatcher>();
        builder.Services.AddHostedService(s => s.GetRequiredService<CommandDispatcher>());
        builder.Services.AddSingleton<ConnectorProfiles>();
        return builder;
    }

    public static void MapIntegrations(this IEndpointRouteBuilder app)
    {
        app.MapWebhooks();
        app.MapConnectors();
    }
}

/// <summary>
/// Hourly: forgets idempotency keys past their 24 hours; finished deliveries (with their attempts), connectors' inbound
/// log entries and finished commands after 30 days; cached customer profiles after a day.
/// </summary>
internal sealed class IntegrationsMaintenance(Db db, TimeProvider clock, ILogger<IntegrationsMaintenance> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), clock);
        do
        {
            try
            {
                var now = clock.GetUtcNow();
                await db.ExecuteAsync("DELETE FROM idempotency_keys WHERE started_at < @before",
                    new { before = (now - IdempotencyFilter.Lifetime).ToUnixTimeMilliseconds() }, stoppingToken);
                var before = now.AddDays(-30).ToUnixTimeMilliseconds();
                await db.InTransactionAsync(async (c, t) =>
                {
                    await Dapper.SqlMapper.ExecuteAsync(c, """
                        DELETE FROM webhook_attempts WHERE (subscription_id, event_id) IN
                            (SELECT subscription_id, event_id FROM webhook_deliveries WHERE status <> 'pending' AND finished_at < @before)
                        """, new { before }, t);
                    await Dapper.SqlMapper.ExecuteAsync(c, "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND finished_at < @before", new { before }, t);
                }, stoppingToken);
                // Connectors' logs: the versions applied (connector_objects) stay, so an old event sent again is still stale.
                await db.InTransactionAsync(async (c, t) =>
                {
                    await Dapper.SqlMapper.ExecuteAsync(c, "DELETE FROM connector_events WHERE status <> 'received' AND finished_at < @before", new { before }, t);
                    await Dapper.SqlMapper.ExecuteAsync(c, """
                        DELETE FROM connector_command_attempts WHERE command_id IN
                            (SELECT id FROM connector_commands WHERE status IN ('done', 'refused', 'failed') AND finished_at < @before)
                        """, new { before }, t);
                    await Dapper.SqlMapper.ExecuteAsync(c, "DELETE FROM connector_commands WHERE status IN ('done', 'refused', 'failed') AND finished_at < @before", new { before }, t);
                    await Dapper.SqlMapper.ExecuteAsync(c, "DELETE FROM connector_profiles WHERE fetched_at < @day", new { day = now.AddDays(-1).ToUnixTimeMilliseconds() }, t);
                }, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Integrations maintenance failed; will retry in an hour");
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
