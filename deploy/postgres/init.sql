-- Run once by the postgis/postgis image (docker-compose.yml) on an empty data directory: as the superuser,
-- connected to POSTGRES_DB, i.e. database gorod. It does for that database what
-- servicekit.provision.create_database does for `make up`: one login role per service, whose password is
-- its name (local stacks only), with CONNECT and CREATE on the database (CREATE lets the service's
-- migration environment create its own schema); no CONNECT for PUBLIC; PostGIS in public.
-- The schemas and tables are then created by each service's migrations, as its own role.
-- tests/test_stack_consistency.py checks that every service on disk has its role here.

REVOKE CONNECT ON DATABASE "gorod" FROM PUBLIC;

CREATE ROLE "gorod_auth" LOGIN PASSWORD 'gorod_auth';
GRANT CONNECT, CREATE ON DATABASE "gorod" TO "gorod_auth";

CREATE ROLE "gorod_problems" LOGIN PASSWORD 'gorod_problems';
GRANT CONNECT, CREATE ON DATABASE "gorod" TO "gorod_problems";

CREATE ROLE "gorod_routing" LOGIN PASSWORD 'gorod_routing';
GRANT CONNECT, CREATE ON DATABASE "gorod" TO "gorod_routing";

CREATE ROLE "gorod_inspectors" LOGIN PASSWORD 'gorod_inspectors';
GRANT CONNECT, CREATE ON DATABASE "gorod" TO "gorod_inspectors";

CREATE ROLE "gorod_budgeting" LOGIN PASSWORD 'gorod_budgeting';
GRANT CONNECT, CREATE ON DATABASE "gorod" TO "gorod_budgeting";

CREATE ROLE "gorod_initiatives" LOGIN PASSWORD 'gorod_initiatives';
GRANT CONNECT, CREATE ON DATABASE "gorod" TO "gorod_initiatives";

CREATE ROLE "gorod_analytics" LOGIN PASSWORD 'gorod_analytics';
GRANT CONNECT, CREATE ON DATABASE "gorod" TO "gorod_analytics";

CREATE EXTENSION IF NOT EXISTS postgis;
