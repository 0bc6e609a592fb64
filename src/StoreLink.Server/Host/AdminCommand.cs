using Dapper;
using Microsoft.AspNetCore.Identity;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Host;

/// <summary>
/// <c>StoreLink.Server admin create-org --name "…" --admin-login you@example.com [--admin-password …] [--admin-name …]</c>:
/// creates an organization and its first admin on the configured database (migrating it first), then exits.
/// Without <c>--admin-password</c> a random one is generated and printed once.
/// </summary>
public static class AdminCommand
{
    public static bool IsAdmin(string[] args) => args.Length > 0 && args[0] == "admin";

    public static async Task<int> RunAsync(WebApplication app, string[] args)
    {
        if (args.Length < 2 || args[1] != "create-org")
        {
            Console.Error.WriteLine("Usage: admin create-org --name <organization> --admin-login <e-mail> [--admin-password <password>] [--admin-name <name>]");
            return 2;
        }
        var options = Options(args[2..]);
        var name = options.GetValueOrDefault("name")?.Trim();
        var login = options.GetValueOrDefault("admin-login")?.Trim().ToLowerInvariant();
        var password = options.GetValueOrDefault("admin-password") ?? Secrets.NewIdentitySecret()[..16];
        if (string.IsNullOrEmpty(name) || string.IsNullOrEmpty(login) || password.Length < StaffActions.MinPasswordLength)
        {
            Console.Error.WriteLine($"--name and --admin-login are required; a password has at least {StaffActions.MinPasswordLength} characters.");
            return 2;
        }
        if (!await app.PrepareAsync(demoFlag: false))
            return 1;

        var db = app.Services.GetRequiredService<Db>();
        var clock = app.Services.GetRequiredService<TimeProvider>();
        var hasher = app.Services.GetRequiredService<IPasswordHasher<StaffRow>>();
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var orgId = Ids.New("org", clock);
        var admin = new StaffRow { Id = Ids.New("stf", clock), OrgId = orgId, Login = login, Name = options.GetValueOrDefault("admin-name") ?? Texts.Get(Texts.DefaultLanguage, "admin_name") };
        admin.PasswordHash = hasher.HashPassword(admin, password);
        var secret = Secrets.NewIdentitySecret();
        var created = await db.InTransactionAsync(async (c, t) =>
        {
            if (await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM staff WHERE login = @login", new { login }, t) > 0)
                return false;
            await c.ExecuteAsync("INSERT INTO organizations (id, name, identity_secret, created_at) VALUES (@orgId, @name, @secret, @now)",
                new { orgId, name, secret, now }, t);
            await c.ExecuteAsync("""
                INSERT INTO staff (id, org_id, login, name, password_hash, created_at) VALUES (@Id, @OrgId, @Login, @Name, @PasswordHash, @now)
                """, new { admin.Id, admin.OrgId, admin.Login, admin.Name, admin.PasswordHash, now }, t);
            await c.ExecuteAsync("INSERT INTO staff_roles (staff_id, store_id, role) VALUES (@id, NULL, 'org_admin')", new { id = admin.Id }, t);
            return true;
        });
        if (!created)
        {
            Console.Error.WriteLine($"The login '{login}' is taken; nothing was created.");
            return 1;
        }
        Console.WriteLine($"Created organization '{name}' ({orgId}) with org admin {login}.");
        if (!options.ContainsKey("admin-password"))
            Console.WriteLine($"  Password (shown once): {password}");
        Console.WriteLine($"  Identity secret for customer tokens: {secret}");
        Console.WriteLine("Sign in with POST /v1/auth/login, then create stores (POST /v1/stores) and staff (POST /v1/staff).");
        return 0;
    }

    private static Dictionary<string, string> Options(string[] args)
    {
        var options = new Dictionary<string, string>();
        for (var i = 0; i + 1 < args.Length; i += 2)
            if (args[i].StartsWith("--", StringComparison.Ordinal))
                options[args[i][2..]] = args[i + 1];
        return options;
    }
}
