using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;

namespace StoreLink.Server.Host;

/// <summary>Start-up concerns of the process: default address, data directory, migrations, demo seed and the banner.</summary>
public static class ServerHost
{
    public const string DefaultUrl = "http://localhost:5080";

    /// <summary>Listens on <see cref="DefaultUrl"/> unless <c>--urls</c>, <c>ASPNETCORE_URLS</c> or Kestrel endpoints say otherwise.</summary>
    public static WebApplicationBuilder AddServerDefaults(this WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        if (string.IsNullOrEmpty(config["urls"]) && string.IsNullOrEmpty(config["http_ports"]) &&
            string.IsNullOrEmpty(config["https_ports"]) && !config.GetSection("Kestrel:Endpoints").Exists())
            builder.WebHost.UseUrls(DefaultUrl);
        builder.Services.AddOptions<HostOptions>().Configure(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        return builder;
    }

    /// <summary>
    /// Creates the data directory, applies migrations and seeds the demo when asked (Development, <c>--demo</c>
    /// or <c>StoreLink:Demo</c>). Answers false, after logging why, when the server must not start.
    /// </summary>
    public static async Task<bool> PrepareAsync(this WebApplication app, bool demoFlag)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("StoreLink.Startup");
        var server = app.Services.GetRequiredService<IOptions<ServerOptions>>().Value;
        var db = app.Services.GetRequiredService<Db>();
        try
        {
            Directory.CreateDirectory(Path.GetFullPath(server.DataDirectory));
            await app.Services.GetRequiredService<MigrationRunner>().ApplyAsync();
            if (demoFlag || server.Demo || app.Environment.IsDevelopment())
                await app.Services.GetRequiredService<DemoSeed>().SeedIfEmptyAsync(CancellationToken.None);
            return true;
        }
        catch (MigrationFailedException e)
        {
            logger.LogCritical("{Message}", e.Message);
        }
        catch (Exception e) when (e is DatabaseUnavailableException or System.Data.Common.DbException or IOException or UnauthorizedAccessException)
        {
            logger.LogCritical("Cannot open the database ({Database}): {Message}", db.Describe(), e.Message);
        }
        return false;
    }

    private static bool HasDemo(Db db)
    {
        try
        {
            return db.QuerySingleOrDefaultAsync<long>("SELECT COUNT(*) FROM staff WHERE login = 'admin@demo.local'").GetAwaiter().GetResult() > 0;
        }
        catch (Exception e) when (e is DatabaseUnavailableException or System.Data.Common.DbException)
        {
            return false;
        }
    }

    /// <summary>Prints where the server listens, where its data is and, for the demo, how to sign in.</summary>
    public static void PrintBannerOnStart(this WebApplication app)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var db = app.Services.GetRequiredService<Db>();
            var lines = new List<string> { "", "StoreLink is running." };
            lines.AddRange(addresses.Select(a => $"  API        {a}/v1   (OpenAPI: {a}/openapi/v1.json, health: {a}/healthz)"));
            lines.AddRange(addresses.Select(a => $"  Console    {a}/console   (staff)"));
            lines.AddRange(addresses.Select(a => $"  Widget     {a}/chat/<store_key>   (customers; embed {a}/widget.js)"));
            lines.Add($"  Database   {db.Describe()}");
            if (HasDemo(db))
            {
                lines.Add($"  Demo logins (password {DemoSeed.Password}):");
                lines.AddRange(DemoSeed.Logins.Select(l => $"    {l.Login,-30} {l.Role,-11} {l.Store ?? "(all stores)"}"));
                lines.Add("  Demo stores: demo-digital, demo-bags, demo-shoes (Demo Retail); demo-franchise (Demo Franchise)");
            }
            Console.WriteLine(string.Join(Environment.NewLine, lines) + Environment.NewLine);
        });
    }
}
