using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using StoreLink.Protocol;

namespace StoreLink.Server.Accounts;

/// <summary><c>Auth:RequestsPerMinutePerAddress</c> — sign-in calls (login, visitor, customer) per client address and node.</summary>
public sealed class AuthRateOptions
{
    public int RequestsPerMinutePerAddress { get; set; } = 60;
}

public static class AccountsSetup
{
    public static WebApplicationBuilder AddAccounts(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<AuthOptions>().BindConfiguration("Auth")
            .Validate(o => o.IsValid(), "Auth: lifetimes, limits and the login window must be positive.").ValidateOnStart();
        builder.Services.AddOptions<AuthRateOptions>().BindConfiguration("Auth")
            .Validate(o => o.RequestsPerMinutePerAddress > 0, "Auth:RequestsPerMinutePerAddress must be positive.").ValidateOnStart();
        builder.Services.AddSingleton<IPasswordHasher<StaffRow>, PasswordHasher<StaffRow>>();
        builder.Services.AddSingleton<Tokens>();
        builder.Services.AddSingleton<Access>();
        builder.Services.AddSingleton<LoginThrottle>();
        builder.Services.AddSingleton<Audit>();
        builder.Services.AddSingleton<AuthActions>();
        builder.Services.AddSingleton<StoreActions>();
        builder.Services.AddSingleton<StaffActions>();
        builder.Services.AddSingleton<CustomerActions>();
        builder.Services.AddSingleton<ApiClientActions>();
        builder.Services.AddSingleton<DemoSeed>();
        builder.Services.AddHostedService<AccountsMaintenance>();

        builder.Services.AddAuthentication(BearerAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, BearerAuthenticationHandler>(BearerAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization();

        // Per-address limit of sign-in calls on this node; failed logins are also counted in the database (LoginThrottle).
        var rate = builder.Configuration.GetSection("Auth").Get<AuthRateOptions>() ?? new AuthRateOptions();
        builder.Services.AddRateLimiter(o =>
        {
            o.AddPolicy(AuthApi.RateLimitPolicy, http => RateLimitPartition.GetFixedWindowLimiter(
                http.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                _ => new FixedWindowRateLimiterOptions { PermitLimit = rate.RequestsPerMinutePerAddress, Window = TimeSpan.FromMinutes(1) }));
            o.OnRejected = async (context, ct) =>
            {
                var http = context.HttpContext;
                http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
                    http.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = http,
                    ProblemDetails = { Status = 429, Title = "Too many requests; wait before trying again.", Extensions = { ["code"] = ErrorCodes.RateLimited } },
                });
            };
        });
        return builder;
    }

    public static void MapAccounts(this IEndpointRouteBuilder app)
    {
        app.MapAuth();
        app.MapOrganization();
        app.MapStores();
        app.MapStaff();
        app.MapCustomers();
        app.MapApiClients();
        app.MapAudit();
    }
}

/// <summary>Hourly: forgets ended login-throttle windows and access tokens that expired more than a day ago.</summary>
internal sealed class AccountsMaintenance(LoginThrottle throttle, Data.Db db, TimeProvider clock, ILogger<AccountsMaintenance> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), clock);
        do
        {
            try
            {
                await throttle.SweepAsync(stoppingToken);
                var before = clock.GetUtcNow().AddDays(-1).ToUnixTimeMilliseconds();
                await db.ExecuteAsync("DELETE FROM access_tokens WHERE expires_at < @before", new { before }, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Accounts maintenance failed; will retry in an hour");
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
